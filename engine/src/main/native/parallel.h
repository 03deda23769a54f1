/* A parallel loop over independent tasks for the native ops, on a pool of worker threads kept for
 * the life of the process. */
#ifndef LLAVA_PARALLEL_H_
#define LLAVA_PARALLEL_H_

#include <stdint.h>

#define LLAVA_MAX_THREADS 64

/*
 * Runs run(arg, t) for every t in [0, tasks) on the calling thread and up to threads - 1 pool
 * workers, and returns when all are done. Should another op hold the pool (TensorFlow may run two
 * ops at once), the call runs on the calling thread alone rather than oversubscribe the cores.
 */
void llava_parallel_for(int64_t tasks, int64_t threads, void (*run)(void* arg, int64_t task),
                        void* arg);

#endif /* LLAVA_PARALLEL_H_ */
