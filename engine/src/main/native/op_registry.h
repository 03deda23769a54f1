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

/* Copies a variable's tensor whole: the copy function TF_GetInputTensorFromVariable takes, for a
 * variable whose buffer another reference still holds. */
void llava_copy_tensor(TF_OpKernelContext* ctx, TF_Tensor* source, TF_Tensor* dest);

/* Registers the op and its CPU kernel (shapes left to the graph); reports failure on stderr. */
void llava_register_op(const LlavaOpSpec* spec);

/* The op's num_threads attr, within [1, LLAVA_MAX_THREADS]. */
int32_t llava_num_threads(TF_OpKernelConstruction* ctx);

/* The attrs of the weight-matmul ops: the output's column count n (-1 when absent), the worker
 * threads, and the highest vector path allowed (-1: the best the CPU has; 0 plain, 1 AVX2, 2
 * AVX-512F), which tests force lower. The quantized ops also read int8_rows, the fewest rows of x
 * that are quantized to int8 for integer dot products (0, the default: never), and int8_path, the
 * highest integer path allowed (-1: the best; 0 plain, 1 AVX2, 2 AVX-VNNI, 3 AVX-512 VNNI). */
typedef struct {
  int32_t n;
  int32_t num_threads;
  int32_t path;
  int32_t int8_rows;
  int32_t int8_path;
} LlavaMatMulAttrs;

/* Reads the attrs above for a kernel being created; free the result with free(). */
void* llava_matmul_attrs_create(TF_OpKernelConstruction* ctx);

/* The tensors of one weight-matmul step: x [M, K] float and the packed weights w, taken from the
 * step's inputs, and y [M, n], allocated once w's packing is checked. */
typedef struct {
  TF_Status* status;
  TF_Tensor* x;
  TF_Tensor* w;
  TF_Tensor* y;
  int64_t m;
  int64_t k;
} LlavaMatMulIo;

/* Takes x and w and checks x is [M, K] and w has `w_rank` dims whose last is `w_last` (and, for
 * rank 4, whose third is 16): `layout` names w's dims in the error ("[NB, K, 16]"). Returns 1 when
 * the step goes on, 0 when it has failed. Call llava_matmul_end in both cases. */
int llava_matmul_begin(TF_OpKernelContext* ctx, LlavaMatMulIo* io, int w_rank, int64_t w_last,
                       const char* op, const char* layout);

/* Checks that w's packed depth `w_k` is the `want_k` K packs to and that n columns fill w's `nb`
 * blocks of `cols` (in tiles of `tile_blocks` blocks, the last tile not empty), then allocates y
 * [M, n]. Returns 1 when there is work for the kernel, 0 when the step is done: failed (reported),
 * M == 0, or K == 0 (y zeroed). `trailing` ends w's dims in the error ("16" or "576"). */
int llava_matmul_output(TF_OpKernelContext* ctx, LlavaMatMulIo* io, int64_t w_k, int64_t want_k,
                        int64_t nb, int64_t n, int64_t cols, int64_t tile_blocks, const char* op,
                        const char* trailing);

/* Releases the step's tensors and status. */
void llava_matmul_end(LlavaMatMulIo* io);

/* The kernel state of the attention ops: worker threads and the highest vector path allowed (the
 * op's "path" attr; -1 when absent: the best the CPU has). Free with free(). */
typedef struct {
  int32_t num_threads;
  int32_t path;
} LlavaPathKernel;

void* llava_path_kernel_create(TF_OpKernelConstruction* ctx);

/* The inputs of a paged-attention op: q (input 0), the pool's key and value variables (inputs 1
 * and 2, read in place) and two int32 inputs (3 and 4: block tables, then lengths or positions). */
typedef struct {
  TF_Tensor* q;
  TF_Tensor* k;
  TF_Tensor* v;
  TF_Tensor* tables;
  TF_Tensor* rows;
} LlavaPagedInputs;

/* Takes the inputs and checks the pool: k and v float32 or float16 [N, KVH, BS, D], the same.
 * Returns 1 when the step goes on, 0 when it has failed (the error names `op`). Call
 * llava_paged_inputs_end in both cases. */
int llava_paged_inputs_begin(TF_OpKernelContext* ctx, TF_Status* status, const char* op,
                             LlavaPagedInputs* in);

void llava_paged_inputs_end(LlavaPagedInputs* in);

/* Checks that the blocks of sequence s holding its keys 0 .. keys - 1 (block_tables [S,
 * max_blocks]) lie in the pool's num_blocks. Returns 1, or 0 after failing the step. */
int llava_paged_blocks_check(TF_OpKernelContext* ctx, TF_Status* status, const char* op,
                             const int32_t* tables, int64_t s, int64_t max_blocks, int64_t keys,
                             int64_t block_size, int64_t num_blocks);

/* Fails the running step with a TensorFlow error of `code` and `msg`. */
void llava_fail(TF_OpKernelContext* ctx, TF_Status* status, int code, const char* msg);

#endif /* LLAVA_OP_REGISTRY_H_ */
