#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

typedef struct {
  void (*run)(void* arg, int64_t task);
  void* arg;
  int64_t tasks;
  atomic_llong next;
  int wanted; /* workers that may join */
  int joined; /* workers that joined; guarded by mu */
  atomic_int active; /* workers still running tasks; changed under mu, polled by the caller */
} Job;

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static Job* current;          /* guarded by mu */
static atomic_ullong generation; /* changed under mu, polled by idle workers */
static int workers;           /* guarded by pool_busy */

/*
 * How long a worker polls for the next job, and the caller for its workers' last tasks, before
 * sleeping on the condition variable: 2,000 pauses, 35-80 us on current x86 cores. A step calls
 * the native ops dozens of times a few microseconds apart, and waking a sleeping thread costs
 * 10-30 us in a VM: for one decoding row (a 1024 x 1024 float16 matmul) that wake-up was half the
 * call's time.
 */
#define SPINS 2000

static void run_tasks(Job* job) {
  for (;;) {
    const int64_t task = atomic_fetch_add(&job->next, 1);
    if (task >= job->tasks) {
      return;
    }
    job->run(job->arg, task);
  }
}

static void* worker(void* unused) {
  (void)unused;
  uint64_t seen = 0;
  for (;;) {
    for (int spin = 0; spin < SPINS && atomic_load_explicit(&generation, memory_order_acquire) == seen;
         spin++) {
      cpu_relax();
    }
    pthread_mutex_lock(&mu);
    while (generation == seen) {
      pthread_cond_wait(&work_ready, &mu);
    }
    seen = generation;
    Job* job = current;
    if (job == NULL || job->joined >= job->wanted) {
      pthread_mutex_unlock(&mu);
      continue;
    }
    job->joined++;
    job->active++;
    pthread_mutex_unlock(&mu);
    run_tasks(job);
    pthread_mutex_lock(&mu);
    if (atomic_fetch_sub(&job->active, 1) == 1) {
      pthread_cond_signal(&work_done);
    }
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

void llava_parallel_for(int64_t tasks, int64_t threads, void (*run)(void* arg, int64_t task),
                        void* arg) {
  Job job = {.run = run, .arg = arg, .tasks = tasks};
  atomic_init(&job.next, 0);
  atomic_init(&job.active, 0);
  if (threads > tasks) {
    threads = tasks;
  }
  if (threads > LLAVA_MAX_THREADS) {
    threads = LLAVA_MAX_THREADS;
  }
  if (threads <= 1 || pthread_mutex_trylock(&pool_busy) != 0) {
    run_tasks(&job);
    return;
  }
  while (workers < threads - 1) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) {
      break;
    }
    pthread_detach(t);
    workers++;
  }
  job.wanted = (int)threads - 1;
  pthread_mutex_lock(&mu);
  current = &job;
  generation++;
  pthread_cond_broadcast(&work_ready);
  pthread_mutex_unlock(&mu);

  run_tasks(&job);

  for (int spin = 0; spin < SPINS && atomic_load_explicit(&job.active, memory_order_acquire) > 0;
       spin++) {
    cpu_relax();
  }
  pthread_mutex_lock(&mu);
  current = NULL; /* a worker waking late finds no job */
  while (job.active > 0) {
    pthread_cond_wait(&work_done, &mu);
  }
  pthread_mutex_unlock(&mu);
  pthread_mutex_unlock(&pool_busy);
}
