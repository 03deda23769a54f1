#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
  void (*run)(void* arg, int64_t task);
  void* arg;
  int64_t tasks;
  atomic_llong next;
  int wanted; /* workers that may join */
  int joined; /* workers that joined; guarded by mu */
  int active; /* workers still running tasks; guarded by mu */
} Job;

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static Job* current;          /* guarded by mu */
static uint64_t generation;   /* guarded by mu */
static int workers;           /* guarded by pool_busy */

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
  pthread_mutex_lock(&mu);
  for (;;) {
    while (generation == seen) {
      pthread_cond_wait(&work_ready, &mu);
    }
    seen = generation;
    Job* job = current;
    if (job == NULL || job->joined >= job->wanted) {
      continue;
    }
    job->joined++;
    job->active++;
    pthread_mutex_unlock(&mu);
    run_tasks(job);
    pthread_mutex_lock(&mu);
    if (--job->active == 0) {
      pthread_cond_signal(&work_done);
    }
  }
  return NULL;
}

void llava_parallel_for(int64_t tasks, int64_t threads, void (*run)(void* arg, int64_t task),
                        void* arg) {
  Job job = {.run = run, .arg = arg, .tasks = tasks};
  atomic_init(&job.next, 0);
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

  pthread_mutex_lock(&mu);
  current = NULL; /* a worker waking late finds no job */
  while (job.active > 0) {
    pthread_cond_wait(&work_done, &mu);
  }
  pthread_mutex_unlock(&mu);
  pthread_mutex_unlock(&pool_busy);
}
