/*
 * Row-wise fusions of the decoder's elementwise work, each one pass over memory where the stock
 * ops make several (and allocate a tensor per pass):
 *
 *   LlavaRmsNorm(x: float [T, H], w: float [H]; eps) -> x * rsqrt(mean(x^2) + eps) * w
 *   LlavaAddRmsNorm(x: float [T, H], d: float [T, H], w: float [H]; eps)
 *       -> s = x + d (the residual stream), y = LlavaRmsNorm(s, w): the residual add and the next
 *          norm in one op, the same bits as the two apart. Besides the pass it saves, a stock Add
 *          between two native ops cost a decoding step 50-70 us each (two a layer) on a 2-core
 *          Zen 3, where the ops around it took 2-4 us to follow one another.
 *   LlavaSiluMul(gu: float [T, 2I]) -> silu(gu[:, :I]) * gu[:, I:]      (LLaMA's MLP activation)
 *
 *   LlavaRopeWrite(qkv: float [T, (H + 2 KV) D], cos: float [T, D], sin: float [T, D],
 *                  slots: int32 [T, KV, 3], k_cache: resource, v_cache: resource;
 *                  heads, kv_heads, head_dim, q_scale)
 *       -> q [T, H, D]: the fused Q/K/V projection split by head, queries and keys rotated
 *          (x cos + rotate_half(x) sin, with sin's first half negated by the caller) and queries
 *          scaled by q_scale. Keys and values are not returned: each token's head h is written
 *          into the paged pool variables ([N, KV, BS, D], float32 or float16, rounded to nearest
 *          even as TensorFlow's Cast does) at slots[t, h] = (block, head, offset), in place, as
 *          ResourceScatterNdUpdate would, so the step needs no cast, scatter or KV tensor per
 *          layer. A slot outside the pool fails the step before anything is written.
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
#define ADD_RMS_NORM "LlavaAddRmsNorm"
#define SILU_MUL "LlavaSiluMul"
#define ROPE_WRITE "LlavaRopeWrite"
/* Rows per task: enough work to be worth a hand-off. */
#define ROWS_PER_TASK 8
/* The widest head LlavaRopeWrite rotates (a key row is rotated on the stack before it is stored). */
#define MAX_HEAD_DIM 1024

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

typedef struct {
  int32_t num_threads;
  float eps;
  int32_t heads, kv_heads, head_dim;
  float q_scale;
} Kernel;

typedef struct {
  const float* x;
  const float* d; /* LlavaAddRmsNorm's addend, else NULL */
  const float* w;
  float* y;
  float* s; /* LlavaAddRmsNorm's sum x + d, else NULL */
  int64_t rows, width;
  float eps;
} RowJob;

/* One row's RMSNorm; inlined into each caller, whose clones are the same, so are the bits. */
static inline __attribute__((always_inline)) void norm_row(const float* x, const float* w,
                                                            float* y, int64_t width, float eps) {
  float sum = 0.0f;
  for (int64_t i = 0; i < width; i++) {
    sum += x[i] * x[i];
  }
  const float scale = 1.0f / sqrtf(sum / (float)width + eps);
  for (int64_t i = 0; i < width; i++) {
    y[i] = x[i] * scale * w[i];
  }
}

CLONES static void rms_norm_rows(void* arg, int64_t task) {
  const RowJob* j = (const RowJob*)arg;
  const int64_t end = (task + 1) * ROWS_PER_TASK < j->rows ? (task + 1) * ROWS_PER_TASK : j->rows;
  for (int64_t r = task * ROWS_PER_TASK; r < end; r++) {
    norm_row(j->x + r * j->width, j->w, j->y + r * j->width, j->width, j->eps);
  }
}

CLONES static void add_rms_norm_rows(void* arg, int64_t task) {
  const RowJob* j = (const RowJob*)arg;
  const int64_t end = (task + 1) * ROWS_PER_TASK < j->rows ? (task + 1) * ROWS_PER_TASK : j->rows;
  for (int64_t r = task * ROWS_PER_TASK; r < end; r++) {
    const float* x = j->x + r * j->width;
    const float* d = j->d + r * j->width;
    float* s = j->s + r * j->width;
    for (int64_t i = 0; i < j->width; i++) {
      s[i] = x[i] + d[i];
    }
    norm_row(s, j->w, j->y + r * j->width, j->width, j->eps);
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
  const int32_t* slots;
  float* q;
  void* k_cache; /* float or _Float16 [N, KV, BS, D] */
  void* v_cache;
  int half;
  int64_t tokens, heads, kv_heads, d, block_size;
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

/* A row of d floats into the pool at `at` (an element offset), as float or rounded to half. */
static inline void store_row(void* pool, int half, int64_t at, const float* x, int64_t d) {
  if (half) {
    _Float16* dst = (_Float16*)pool + at;
    for (int64_t i = 0; i < d; i++) {
      dst[i] = (_Float16)x[i];
    }
  } else {
    memcpy((float*)pool + at, x, (size_t)d * sizeof(float));
  }
}

CLONES static void rope_rows(void* arg, int64_t task) {
  const RopeJob* j = (const RopeJob*)arg;
  const int64_t end = (task + 1) * ROWS_PER_TASK < j->tokens ? (task + 1) * ROWS_PER_TASK : j->tokens;
  const int64_t d = j->d;
  const int64_t width = (j->heads + 2 * j->kv_heads) * d;
  float key[MAX_HEAD_DIM];
  for (int64_t t = task * ROWS_PER_TASK; t < end; t++) {
    const float* row = j->qkv + t * width;
    const float* c = j->cos + t * d;
    const float* s = j->sin + t * d;
    for (int64_t h = 0; h < j->heads; h++) {
      rotate(j->q + (t * j->heads + h) * d, row + h * d, c, s, d, j->q_scale);
    }
    for (int64_t h = 0; h < j->kv_heads; h++) {
      const int32_t* slot = j->slots + (t * j->kv_heads + h) * 3;
      const int64_t at = (((int64_t)slot[0] * j->kv_heads + slot[1]) * j->block_size + slot[2]) * d;
      rotate(key, row + (j->heads + h) * d, c, s, d, 1.0f);
      store_row(j->k_cache, j->half, at, key, d);
      store_row(j->v_cache, j->half, at, row + (j->heads + j->kv_heads + h) * d, d);
    }
  }
}

static void rope_write_compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* k = (const Kernel*)kernel;
  TF_Status* status = TF_NewStatus();
  TF_Tensor* in[4] = {NULL, NULL, NULL, NULL};
  TF_Tensor* kc = NULL;
  TF_Tensor* vc = NULL;
  TF_Tensor* out = NULL;
  char msg[256];
  for (int i = 0; i < 4 && TF_GetCode(status) == TF_OK_CODE; i++) {
    TF_GetInput(ctx, i, &in[i], status);
  }
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInputTensorFromVariable(ctx, 4, false, false, true, llava_copy_tensor, &kc, status);
  }
  if (TF_GetCode(status) == TF_OK_CODE) {
    TF_GetInputTensorFromVariable(ctx, 5, false, false, true, llava_copy_tensor, &vc, status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  const int64_t d = k->head_dim;
  const int64_t tokens = TF_NumDims(in[0]) == 2 ? TF_Dim(in[0], 0) : -1;
  if (tokens < 0 || d <= 0 || d % 2 != 0 || d > MAX_HEAD_DIM || k->heads <= 0 ||
      k->kv_heads <= 0 || TF_Dim(in[0], 1) != (k->heads + 2 * k->kv_heads) * d ||
      TF_NumDims(in[1]) != 2 || TF_NumDims(in[2]) != 2 || TF_Dim(in[1], 0) != tokens ||
      TF_Dim(in[1], 1) != d || TF_Dim(in[2], 0) != tokens || TF_Dim(in[2], 1) != d ||
      TF_NumDims(in[3]) != 3 || TF_Dim(in[3], 0) != tokens || TF_Dim(in[3], 1) != k->kv_heads ||
      TF_Dim(in[3], 2) != 3) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
               ROPE_WRITE ": expected qkv [T, (heads + 2 kv_heads) head_dim], cos and sin [T,"
                          " head_dim], slots [T, kv_heads, 3]");
    goto done;
  }
  const int type = TF_TensorType(kc);
  if ((type != TF_FLOAT_TYPE && type != TF_HALF_TYPE) || TF_TensorType(vc) != type ||
      TF_NumDims(kc) != 4 || TF_NumDims(vc) != 4 || TF_Dim(kc, 1) != k->kv_heads ||
      TF_Dim(kc, 3) != d) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
               ROPE_WRITE ": k_cache and v_cache must be float32 or float16 [blocks, kv_heads,"
                          " block_size, head_dim], both the same");
    goto done;
  }
  for (int i = 0; i < 4; i++) {
    if (TF_Dim(kc, i) != TF_Dim(vc, i)) {
      llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
                 ROPE_WRITE ": k_cache and v_cache differ in shape");
      goto done;
    }
  }
  const int32_t* slots = TF_TensorData(in[3]);
  const int64_t limits[3] = {TF_Dim(kc, 0), k->kv_heads, TF_Dim(kc, 2)};
  for (int64_t i = 0; i < tokens * k->kv_heads * 3; i++) {
    if (slots[i] < 0 || slots[i] >= limits[i % 3]) {
      const int64_t t = i / 3 / k->kv_heads;
      snprintf(msg, sizeof msg, ROPE_WRITE ": slots[%lld, %lld, %lld] = %d outside [0, %lld)",
               (long long)t, (long long)(i / 3 % k->kv_heads), (long long)(i % 3), slots[i],
               (long long)limits[i % 3]);
      llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
      goto done;
    }
  }
  const int64_t dims[3] = {tokens, k->heads, d};
  out = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, dims, 3,
                          (size_t)(tokens * k->heads * d) * sizeof(float), status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  RopeJob job = {.qkv = TF_TensorData(in[0]),
                 .cos = TF_TensorData(in[1]),
                 .sin = TF_TensorData(in[2]),
                 .slots = slots,
                 .q = TF_TensorData(out),
                 .k_cache = TF_TensorData(kc),
                 .v_cache = TF_TensorData(vc),
                 .half = type == TF_HALF_TYPE,
                 .tokens = tokens,
                 .heads = k->heads,
                 .kv_heads = k->kv_heads,
                 .d = d,
                 .block_size = TF_Dim(kc, 2),
                 .q_scale = k->q_scale};
  const int64_t tasks = (tokens + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
  const int64_t threads = tokens * (k->heads + 2 * k->kv_heads) * d < 65536 ? 1 : k->num_threads;
  llava_parallel_for(tasks, threads, rope_rows, &job);
done:
  for (int i = 0; i < 4; i++) {
    TF_DeleteTensor(in[i]);
  }
  TF_DeleteTensor(kc);
  TF_DeleteTensor(vc);
  TF_DeleteTensor(out);
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

static void add_rms_norm_compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* k = (const Kernel*)kernel;
  TF_Status* status = TF_NewStatus();
  TF_Tensor* in[3] = {NULL, NULL, NULL};
  TF_Tensor* sum = NULL;
  TF_Tensor* y = NULL;
  for (int i = 0; i < 3; i++) {
    TF_GetInput(ctx, i, &in[i], status);
    if (TF_GetCode(status) != TF_OK_CODE) {
      TF_OpKernelContext_Failure(ctx, status);
      goto done;
    }
  }
  if (TF_NumDims(in[0]) != 2 || TF_NumDims(in[1]) != 2 || TF_NumDims(in[2]) != 1 ||
      TF_Dim(in[1], 0) != TF_Dim(in[0], 0) || TF_Dim(in[1], 1) != TF_Dim(in[0], 1) ||
      TF_Dim(in[2], 0) != TF_Dim(in[0], 1)) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
               ADD_RMS_NORM ": expected x [T, H], d [T, H] and w [H]");
    goto done;
  }
  const int64_t dims[2] = {TF_Dim(in[0], 0), TF_Dim(in[0], 1)};
  sum = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, dims, 2, TF_TensorByteSize(in[0]), status);
  if (TF_GetCode(status) == TF_OK_CODE) {
    y = TF_AllocateOutput(ctx, 1, TF_FLOAT_TYPE, dims, 2, TF_TensorByteSize(in[0]), status);
  }
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  RowJob job = {.x = TF_TensorData(in[0]),
                .d = TF_TensorData(in[1]),
                .w = TF_TensorData(in[2]),
                .y = TF_TensorData(y),
                .s = TF_TensorData(sum),
                .rows = dims[0],
                .width = dims[1],
                .eps = k->eps};
  run_rows(k, &job, add_rms_norm_rows);
done:
  for (int i = 0; i < 3; i++) {
    TF_DeleteTensor(in[i]);
  }
  TF_DeleteTensor(sum);
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
                         int n_attrs, int stateful, void (*compute)(void*, TF_OpKernelContext*)) {
  const LlavaOpSpec spec = {.name = name,
                            .stateful = stateful,
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
  register_one(RMS_NORM, norm_inputs, 2, y, 1, norm_attrs, 1, 0, rms_norm_compute);
  static const char* const add_norm_inputs[] = {"x: float", "d: float", "w: float"};
  static const char* const add_norm_outputs[] = {"s: float", "y: float"};
  register_one(ADD_RMS_NORM, add_norm_inputs, 3, add_norm_outputs, 2, norm_attrs, 1, 0,
               add_rms_norm_compute);
  static const char* const silu_inputs[] = {"gu: float"};
  register_one(SILU_MUL, silu_inputs, 1, y, 1, NULL, 0, 0, silu_mul_compute);
  static const char* const rope_inputs[] = {"qkv: float",          "cos: float",
                                            "sin: float",          "slots: int32",
                                            "k_cache: resource",   "v_cache: resource"};
  static const char* const rope_outputs[] = {"q: float"};
  static const char* const rope_attrs[] = {"heads: int", "kv_heads: int", "head_dim: int",
                                           "q_scale: float"};
  register_one(ROPE_WRITE, rope_inputs, 6, rope_outputs, 1, rope_attrs, 4, 1, rope_write_compute);
}
