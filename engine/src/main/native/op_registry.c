#include "op_registry.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "parallel.h"

static void unknown_shape(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeInferenceContextSetUnknownShape(ctx, status);
}

void llava_register_op(const LlavaOpSpec* spec) {
  TF_Status* status = TF_NewStatus();
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder(spec->name);
  for (int i = 0; i < spec->n_inputs; i++) {
    TF_OpDefinitionBuilderAddInput(op, spec->inputs[i]);
  }
  for (int i = 0; i < spec->n_outputs; i++) {
    TF_OpDefinitionBuilderAddOutput(op, spec->outputs[i]);
  }
  TF_OpDefinitionBuilderAddAttr(op, "num_threads: int = 1");
  for (int i = 0; i < spec->n_attrs; i++) {
    TF_OpDefinitionBuilderAddAttr(op, spec->attrs[i]);
  }
  if (spec->stateful) {
    TF_OpDefinitionBuilderSetIsStateful(op, true);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, unknown_shape);
  TF_RegisterOpDefinition(op, status);
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_KernelBuilder* kb =
        TF_NewKernelBuilder(spec->name, "CPU", spec->create, spec->compute, spec->destroy);
    TF_RegisterKernelBuilder(spec->name, kb, status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    fprintf(stderr, "%s: registration failed (code %d)\n", spec->name, TF_GetCode(status));
  }
  TF_DeleteStatus(status);
}

void llava_fail(TF_OpKernelContext* ctx, TF_Status* status, int code, const char* msg) {
  TF_SetStatus(status, code, msg);
  TF_OpKernelContext_Failure(ctx, status);
}

int32_t llava_num_threads(TF_OpKernelConstruction* ctx) {
  TF_Status* status = TF_NewStatus();
  int32_t n = 1;
  TF_OpKernelConstruction_GetAttrInt32(ctx, "num_threads", &n, status);
  if (TF_GetCode(status) != TF_OK_CODE || n < 1) {
    n = 1;
  }
  TF_DeleteStatus(status);
  return n > LLAVA_MAX_THREADS ? LLAVA_MAX_THREADS : n;
}

void* llava_matmul_attrs_create(TF_OpKernelConstruction* ctx) {
  LlavaMatMulAttrs* k = calloc(1, sizeof(LlavaMatMulAttrs));
  TF_Status* status = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrInt32(ctx, "n", &k->n, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    k->n = -1;
  }
  k->num_threads = llava_num_threads(ctx);
  TF_OpKernelConstruction_GetAttrInt32(ctx, "path", &k->path, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    k->path = -1;
  }
  TF_OpKernelConstruction_GetAttrInt32(ctx, "int8_rows", &k->int8_rows, status);
  if (TF_GetCode(status) != TF_OK_CODE || k->int8_rows < 0) {
    k->int8_rows = 0;
  }
  TF_OpKernelConstruction_GetAttrInt32(ctx, "int8_path", &k->int8_path, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    k->int8_path = -1;
  }
  TF_DeleteStatus(status);
  return k;
}

int llava_matmul_begin(TF_OpKernelContext* ctx, LlavaMatMulIo* io, int w_rank, int64_t w_last,
                       const char* op, const char* layout) {
  char msg[256];
  io->status = TF_NewStatus();
  io->x = NULL;
  io->w = NULL;
  io->y = NULL;
  TF_GetInput(ctx, 0, &io->x, io->status);
  if (TF_GetCode(io->status) == TF_OK_CODE) {
    TF_GetInput(ctx, 1, &io->w, io->status);
  }
  if (TF_GetCode(io->status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, io->status);
    return 0;
  }
  if (TF_NumDims(io->x) != 2 || TF_NumDims(io->w) != w_rank ||
      TF_Dim(io->w, w_rank - 1) != w_last || (w_rank == 4 && TF_Dim(io->w, 2) != 16)) {
    snprintf(msg, sizeof msg, "%s: expected x [M, K] and w %s", op, layout);
    llava_fail(ctx, io->status, TF_INVALID_ARGUMENT_CODE, msg);
    return 0;
  }
  io->m = TF_Dim(io->x, 0);
  io->k = TF_Dim(io->x, 1);
  return 1;
}

int llava_matmul_output(TF_OpKernelContext* ctx, LlavaMatMulIo* io, int64_t w_k, int64_t want_k,
                        int64_t nb, int64_t n, int64_t cols, int64_t tile_blocks, const char* op,
                        const char* trailing) {
  char msg[256];
  if (w_k != want_k || nb % tile_blocks != 0 || n <= 0 || n > nb * cols ||
      n <= (nb - tile_blocks) * cols) {
    snprintf(msg, sizeof msg, "%s: x [%lld, %lld] does not fit w [%lld, %lld, %s] with n = %lld",
             op, (long long)io->m, (long long)io->k, (long long)nb, (long long)w_k, trailing,
             (long long)n);
    llava_fail(ctx, io->status, TF_INVALID_ARGUMENT_CODE, msg);
    return 0;
  }
  const int64_t dims[2] = {io->m, n};
  const size_t bytes = (size_t)(io->m * n) * sizeof(float);
  io->y = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, dims, 2, bytes, io->status);
  if (TF_GetCode(io->status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, io->status);
    return 0;
  }
  if (io->m == 0) {
    return 0;
  }
  if (io->k == 0) {
    memset(TF_TensorData(io->y), 0, bytes);
    return 0;
  }
  return 1;
}

void llava_matmul_end(LlavaMatMulIo* io) {
  TF_DeleteTensor(io->x);
  TF_DeleteTensor(io->w);
  TF_DeleteTensor(io->y);
  TF_DeleteStatus(io->status);
}

void* llava_path_kernel_create(TF_OpKernelConstruction* ctx) {
  LlavaPathKernel* k = calloc(1, sizeof(LlavaPathKernel));
  k->num_threads = llava_num_threads(ctx);
  TF_Status* status = TF_NewStatus();
  TF_OpKernelConstruction_GetAttrInt32(ctx, "path", &k->path, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    k->path = -1;
  }
  TF_DeleteStatus(status);
  return k;
}

void llava_copy_tensor(TF_OpKernelContext* ctx, TF_Tensor* source, TF_Tensor* dest) {
  (void)ctx;
  memcpy(TF_TensorData(dest), TF_TensorData(source), TF_TensorByteSize(source));
}

static int same_pool_shape(const TF_Tensor* a, const TF_Tensor* b) {
  if (TF_NumDims(a) != 4 || TF_NumDims(b) != 4) {
    return 0;
  }
  for (int i = 0; i < 4; i++) {
    if (TF_Dim(a, i) != TF_Dim(b, i)) {
      return 0;
    }
  }
  return 1;
}

int llava_paged_inputs_begin(TF_OpKernelContext* ctx, TF_Status* status, const char* op,
                             LlavaPagedInputs* in) {
  memset(in, 0, sizeof *in);
  TF_GetInput(ctx, 0, &in->q, status);
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInputTensorFromVariable(ctx, 1, false, false, true, llava_copy_tensor, &in->k, status);
  }
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInputTensorFromVariable(ctx, 2, false, false, true, llava_copy_tensor, &in->v, status);
  }
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInput(ctx, 3, &in->tables, status);
  }
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInput(ctx, 4, &in->rows, status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    return 0;
  }
  const int type = TF_TensorType(in->k);
  if ((type != TF_FLOAT_TYPE && type != TF_HALF_TYPE) || TF_TensorType(in->v) != type ||
      !same_pool_shape(in->k, in->v)) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "%s: k_cache and v_cache must be float32 or float16 [blocks, kv_heads, block_size,"
             " head_dim], both the same",
             op);
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
    return 0;
  }
  return 1;
}

void llava_paged_inputs_end(LlavaPagedInputs* in) {
  TF_DeleteTensor(in->q);
  TF_DeleteTensor(in->k);
  TF_DeleteTensor(in->v);
  TF_DeleteTensor(in->tables);
  TF_DeleteTensor(in->rows);
}

int llava_paged_blocks_check(TF_OpKernelContext* ctx, TF_Status* status, const char* op,
                             const int32_t* tables, int64_t s, int64_t max_blocks, int64_t keys,
                             int64_t block_size, int64_t num_blocks) {
  for (int64_t b = 0; b * block_size < keys; b++) {
    const int32_t blk = tables[s * max_blocks + b];
    if (blk < 0 || blk >= num_blocks) {
      char msg[256];
      snprintf(msg, sizeof msg, "%s: block_tables[%lld, %lld] = %d outside [0, %lld)", op,
               (long long)s, (long long)b, blk, (long long)num_blocks);
      llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
      return 0;
    }
  }
  return 1;
}
