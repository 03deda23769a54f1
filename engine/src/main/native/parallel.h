/* A parallel loop over independent tasks for the native ops: the calling thread and up to
 * threads - 1 helpers take task numbers from a shared counter until none are left. */
#ifndef LLAVA_PARALLEL_H_
#define LLAVA_PARALLEL_H_

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define LLAVA_MAX_THREADS 64

typedef struct {
  void (*run)(void* arg, int64_t task);
  void* arg;
  int64_t tasks;
  atomic_llong next;
} LlavaLoop;

static void* llava_loop_worker(void* p) {
  LlavaLoop* loop = (LlavaLoop*)p;
  for (;;) {
    const int64_t task = atomic_fetch_add(&loop->next, 1);
    if (task >= loop->tasks) {
      return NULL;
    }
    loop->run(loop->arg, task);
  }
}

/* Runs run(arg, t) for t in [0, tasks) on up to `threads` threads; returns when all are done. */
static inline void llava_parallel_for(int64_t tasks, int64_t threads,
                                      void (*run)(void* arg, int64_t task), void* arg) {
  LlavaLoop loop = {.run = run, .arg = arg, .tasks = tasks};
  atomic_init(&loop.next, 0);
  if (threads > tasks) {
    threads = tasks;
  }
  if (threads > LLAVA_MAX_THREADS) {
    threads = LLAVA_MAX_THREADS;
  }
  pthread_t helpers[LLAVA_MAX_THREADS];
  int started = 0;
  for (int64_t i = 1; i < threads; i++) {
    if (pthread_create(&helpers[started], NULL, llava_loop_worker, &loop) == 0) {
      started++;
    }
  }
  llava_loop_worker(&loop);
  for (int i = 0; i < started; i++) {
    pthread_join(helpers[i], NULL);
  }
}

#endif /* LLAVA_PARALLEL_H_ */
