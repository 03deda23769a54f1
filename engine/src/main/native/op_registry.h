/* Registering the native ops with TensorFlow, and failing a step with a message. */
#ifndef LLAVA_OP_REGISTRY_H_
#define LLAVA_OP_REGISTRY_H_

#include "tf_kernel_api.h"

typedef struct {
  const char* name;
  const char* const* inputs; /* "name: type" */
  int n_inputs;
  const char* const* outputs;
  int n_outputs;
  const char* const* attrs; /* besides "num_threads: int = 1", which every op has */
  int n_attrs;
  int stateful;
  void* (*create)(TF_OpKernelConstruction*);
  void (*compute)(void*, TF_OpKernelContext*);
  void (*destroy)(void*);
} LlavaOpSpec;

/* Registers the op and its CPU kernel (shapes left to the graph); reports failure on stderr. */
void llava_register_op(const LlavaOpSpec* spec);

/* The op's num_threads attr, within [1, LLAVA_MAX_THREADS]. */
int32_t llava_num_threads(TF_OpKernelConstruction* ctx);

/* The attrs of the weight-matmul ops: the output's column count n (-1 when absent), the worker
 * threads, and the highest vector path allowed (-1: the best the CPU has; 0 plain, 1 AVX2, 2
 * AVX-512F), which tests force lower. */
typedef struct {
  int32_t n;
  int32_t num_threads;
  int32_t path;
} LlavaMatMulAttrs;

/* Reads the attrs above for a kernel being created; free the result with free(). */
void* llava_matmul_attrs_create(TF_OpKernelConstruction* ctx);

/* Fails the running step with a TensorFlow error of `code` and `msg`. */
void llava_fail(TF_OpKernelContext* ctx, TF_Status* status, int code, const char* msg);

#endif /* LLAVA_OP_REGISTRY_H_ */
