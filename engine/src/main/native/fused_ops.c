/*
 * Row-wise fusions of the decoder's elementwise work, each one pass over memory where the stock
 * ops make several (and allocate a tensor per pass):
 *
 *   LlavaRmsNorm(x: float [T, H], w: float [H]; eps) -> x * rsqrt(mean(x^2) + eps) * w
 *   LlavaSiluMul(gu: float [T, 2I]) -> silu(gu[:, :I]) * gu[:, I:]      (LLaMA's MLP activation)
 *
 *   LlavaRope(qkv: float [T, (H + 2 KV) D], cos: float [T, D], sin: float [T, D];
 *             heads, kv_heads, head_dim, q_scale)
 *       -> q [T, H, D], k [T, KV, D], v [T, KV, D]: the fused Q/K/V projection split by head,
 *          queries and keys rotated (x cos + rotate_half(x) sin, with sin's first half negated
 *          by the caller) and queries scaled by q_scale; values copied as they are.
 *
 * All take attr num_threads (int): worker threads for one call, the calling thread included.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define RMS_NORM "LlavaRmsNorm"
#define SILU_MUL "LlavaSiluMul"
#define ROPE "LlavaRope"
/* Rows per task: enough work to be worth a hand-off. */
#define ROWS_PER_TASK 8

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

typedef struct {
  int32_t num_threads;
  float eps;
  int32_t heads, kv_heads, head_dim;
  float q_scale;
} Kernel;

typedef struct {
  const float* x;
  const float* w;
  float* y;
  int64_t rows, width;
  float eps;
} RowJob;

CLONES static void rms_norm_rows(void* arg, int64_t task) {
  const RowJob* j = (const RowJob*)arg;
  const int64_t end = (task + 1) * ROWS_PER_TASK < j->rows ? (task + 1) * ROWS_PER_TASK : j->rows;
  for (int64_t r = task * ROWS_PER_TASK; r < end; r++) {
    const float* x = j->x + r * j->width;
    float* y = j->y + r * j->width;
    float sum = 0.0f;
    for (int64_t i = 0; i < j->width; i++) {
      sum += x[i] * x[i];
    }
    const float scale = 1.0f / sqrtf(sum / (float)j->width + j->eps);
    for (int64_t i = 0; i < j->width; i++) {
      y[i] = x[i] * scale * j->w[i];
    }
  }
}

/*
 * exp(x) for the sigmoid, written without branches so that it vectorises: x = n ln2 + r with
 * |r| <= ln2 / 2, exp(r) by its degree-6 Taylor polynomial (relative error below 2e-7), and 2^n
 * built in the exponent bits. Arguments are clamped to [-87, 87], beyond which the sigmoid is 0 or
 * 1 to float precision anyway.
 */
static inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x > 87.0f ? 87.0f : x;
  const float n = __builtin_roundf(x * 1.44269504088896341f);
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float two_n;
  memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

CLONES static void silu_mul_rows(void* arg, int64_t task) {
  const RowJob* j = (const RowJob*)arg;
  const int64_t end = (task + 1) * ROWS_PER_TASK < j->rows ? (task + 1) * ROWS_PER_TASK : j->rows;
  const int64_t inter = j->width;
  for (int64_t r = task * ROWS_PER_TASK; r < end; r++) {
    const float* gate = j->x + r * 2 * inter;
    const float* up = gate + inter;
    float* y = j->y + r * inter;
    for (int64_t i = 0; i < inter; i++) {
      y[i] = gate[i] / (1.0f + fast_exp(-gate[i])) * up[i];
    }
  }
}

typedef struct {
  const float* qkv;
  const float* cos;
  const float* sin;
  float* q;
  float* k;
  float* v;
  int64_t tokens, heads, kv_heads, d;
  float q_scale;
} RopeJob;

/* One head's row: out = (x cos + rotate_half(x) sin) * scale. */
static inline void rotate(float* out, const float* x, const float* c, const float* s, int64_t d,
                          float scale) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; i++) {
    out[i] = (x[i] * c[i] + x[i + half] * s[i]) * scale;
  }
  for (int64_t i = half; i < d; i++) {
    out[i] = (x[i] * c[i] + x[i - half] * s[i]) * scale;
  }
}

CLONES static void rope_rows(void* arg, int64_t task) {
  const RopeJob* j = (const RopeJob*)arg;
  const int64_t end = (task + 1) * ROWS_PER_TASK < j->tokens ? (task + 1) * ROWS_PER_TASK : j->tokens;
  const int64_t d = j->d;
  const int64_t width = (j->heads + 2 * j->kv_heads) * d;
  for (int64_t t = task * ROWS_PER_TASK; t < end; t++) {
    const float* row = j->qkv + t * width;
    const float* c = j->cos + t * d;
    const float* s = j->sin + t * d;
    for (int64_t h = 0; h < j->heads; h++) {
      rotate(j->q + (t * j->heads + h) * d, row + h * d, c, s, d, j->q_scale);
    }
    for (int64_t h = 0; h < j->kv_heads; h++) {
      rotate(j->k + (t * j->kv_heads + h) * d, row + (j->heads + h) * d, c, s, d, 1.0f);
    }
    memcpy(j->v + t * j->kv_heads * d, row + (j->heads + j->kv_heads) * d,
           (size_t)(j->kv_heads * d) * sizeof(float));
  }
}

static void rope_compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* k = (const Kernel*)kernel;
  TF_Status* status = TF_NewStatus();
  TF_Tensor* in[3] = {NULL, NULL, NULL};
  TF_Tensor* out[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3 && TF_GetCode(status) == TF_OK_CODE; i++) {
    TF_GetInput(ctx, i, &in[i], status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  const int64_t d = k->head_dim;
  const int64_t tokens = TF_NumDims(in[0]) == 2 ? TF_Dim(in[0], 0) : -1;
  if (tokens < 0 || d <= 0 || d % 2 != 0 || k->heads <= 0 || k->kv_heads <= 0 ||
      TF_Dim(in[0], 1) != (k->heads + 2 * k->kv_heads) * d || TF_NumDims(in[1]) != 2 ||
      TF_NumDims(in[2]) != 2 || TF_Dim(in[1], 0) != tokens || TF_Dim(in[1], 1) != d ||
      TF_Dim(in[2], 0) != tokens || TF_Dim(in[2], 1) != d) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
         ROPE ": expected qkv [T, (heads + 2 kv_heads) head_dim], cos and sin [T, head_dim]");
    goto done;
  }
  const int64_t counts[3] = {k->heads, k->kv_heads, k->kv_heads};
  for (int i = 0; i < 3; i++) {
    const int64_t dims[3] = {tokens, counts[i], d};
    out[i] = TF_AllocateOutput(ctx, i, TF_FLOAT_TYPE, dims, 3,
                               (size_t)(tokens * counts[i] * d) * sizeof(float), status);
    if (TF_GetCode(status) != TF_OK_CODE) {
      TF_OpKernelContext_Failure(ctx, status);
      goto done;
    }
  }
  RopeJob job = {.qkv = TF_TensorData(in[0]),
                 .cos = TF_TensorData(in[1]),
                 .sin = TF_TensorData(in[2]),
                 .q = TF_TensorData(out[0]),
                 .k = TF_TensorData(out[1]),
                 .v = TF_TensorData(out[2]),
                 .tokens = tokens,
                 .heads = k->heads,
                 .kv_heads = k->kv_heads,
                 .d = d,
                 .q_scale = k->q_scale};
  const int64_t tasks = (tokens + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
  const int64_t threads = tokens * (k->heads + 2 * k->kv_heads) * d < 65536 ? 1 : k->num_threads;
  llava_parallel_for(tasks, threads, rope_rows, &job);
done:
  for (int i = 0; i < 3; i++) {
    TF_DeleteTensor(in[i]);
    TF_DeleteTensor(out[i]);
  }
  TF_DeleteStatus(status);
}

static void* create(TF_OpKernelConstruction* ctx) {
  Kernel* k = calloc(1, sizeof(Kernel));
  TF_Status* status = TF_NewStatus();
  k->num_threads = llava_num_threads(ctx);
  /* Each op reads the attrs it has; the others stay 0. */
  TF_OpKernelConstruction_GetAttrFloat(ctx, "eps", &k->eps, status);
  TF_OpKernelConstruction_GetAttrInt32(ctx, "heads", &k->heads, status);
  TF_OpKernelConstruction_GetAttrInt32(ctx, "kv_heads", &k->kv_heads, status);
  TF_OpKernelConstruction_GetAttrInt32(ctx, "head_dim", &k->head_dim, status);
  TF_OpKernelConstruction_GetAttrFloat(ctx, "q_scale", &k->q_scale, status);
  TF_DeleteStatus(status);
  return k;
}

static void destroy(void* kernel) { free(kernel); }

/* Work split into tasks of ROWS_PER_TASK rows; one thread when the whole call is small. */
static void run_rows(const Kernel* k, RowJob* job, void (*rows)(void*, int64_t)) {
  const int64_t tasks = (job->rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
  const int64_t threads = job->rows * job->width < 65536 ? 1 : k->num_threads;
  llava_parallel_for(tasks, threads, rows, job);
}

static void rms_norm_compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* k = (const Kernel*)kernel;
  TF_Status* status = TF_NewStatus();
  TF_Tensor* x = NULL;
  TF_Tensor* w = NULL;
  TF_Tensor* y = NULL;
  TF_GetInput(ctx, 0, &x, status);
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInput(ctx, 1, &w, status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  if (TF_NumDims(x) != 2 || TF_NumDims(w) != 1 || TF_Dim(w, 0) != TF_Dim(x, 1)) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, RMS_NORM ": expected x [T, H] and w [H]");
    goto done;
  }
  const int64_t dims[2] = {TF_Dim(x, 0), TF_Dim(x, 1)};
  y = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, dims, 2, TF_TensorByteSize(x), status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  RowJob job = {.x = TF_TensorData(x),
                .w = TF_TensorData(w),
                .y = TF_TensorData(y),
                .rows = dims[0],
                .width = dims[1],
                .eps = k->eps};
  run_rows(k, &job, rms_norm_rows);
done:
  TF_DeleteTensor(x);
  TF_DeleteTensor(w);
  TF_DeleteTensor(y);
  TF_DeleteStatus(status);
}

static void silu_mul_compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* k = (const Kernel*)kernel;
  TF_Status* status = TF_NewStatus();
  TF_Tensor* gu = NULL;
  TF_Tensor* y = NULL;
  TF_GetInput(ctx, 0, &gu, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  if (TF_NumDims(gu) != 2 || TF_Dim(gu, 1) % 2 != 0) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, SILU_MUL ": expected gate and up side by side, [T, 2I]");
    goto done;
  }
  const int64_t dims[2] = {TF_Dim(gu, 0), TF_Dim(gu, 1) / 2};
  y = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, dims, 2, TF_TensorByteSize(gu) / 2, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  RowJob job = {
      .x = TF_TensorData(gu), .y = TF_TensorData(y), .rows = dims[0], .width = dims[1]};
  run_rows(k, &job, silu_mul_rows);
done:
  TF_DeleteTensor(gu);
  TF_DeleteTensor(y);
  TF_DeleteStatus(status);
}

static void register_one(const char* name, const char* const* inputs, int n_inputs,
                         const char* const* outputs, int n_outputs, const char* const* attrs,
                         int n_attrs, void (*compute)(void*, TF_OpKernelContext*)) {
  const LlavaOpSpec spec = {.name = name,
                            .inputs = inputs,
                            .n_inputs = n_inputs,
                            .outputs = outputs,
                            .n_outputs = n_outputs,
                            .attrs = attrs,
                            .n_attrs = n_attrs,
                            .create = create,
                            .compute = compute,
                            .destroy = destroy};
  llava_register_op(&spec);
}

__attribute__((constructor)) static void register_ops(void) {
  static const char* const y[] = {"y: float"};
  static const char* const norm_inputs[] = {"x: float", "w: float"};
  static const char* const norm_attrs[] = {"eps: float"};
  register_one(RMS_NORM, norm_inputs, 2, y, 1, norm_attrs, 1, rms_norm_compute);
  static const char* const silu_inputs[] = {"gu: float"};
  register_one(SILU_MUL, silu_inputs, 1, y, 1, NULL, 0, silu_mul_compute);
  static const char* const rope_inputs[] = {"qkv: float", "cos: float", "sin: float"};
  static const char* const rope_outputs[] = {"q: float", "k: float", "v: float"};
  static const char* const rope_attrs[] = {"heads: int", "kv_heads: int", "head_dim: int",
                                           "q_scale: float"};
  register_one(ROPE, rope_inputs, 3, rope_outputs, 3, rope_attrs, 4, rope_compute);
}
