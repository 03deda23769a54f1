/*
 * LlavaFmaProbe: the float32 fused multiply-add throughput this CPU's cores reach, the ceiling a
 * GEMM-shaped matmul could approach (benchmarks report their GFLOP/s against it).
 *
 * Each of num_threads threads runs `iterations` rounds of 12 independent FMA chains on the widest
 * vectors the path has (no memory traffic, so nothing but the FMA units is measured); the output is
 * the total GFLOP/s (a multiply-add counted as two) over the wall time of the whole call.
 *
 * Inputs:
 *   iterations  int32 scalar   rounds per thread
 * Output:
 *   y           float scalar   GFLOP/s
 * Attrs:
 *   num_threads int            threads (the calling thread included)
 *   path        int            -1: the best this CPU has; 0 plain, 1 AVX2 + FMA, 2 AVX-512F
 */
#include <immintrin.h>
#include <stdlib.h>
#include <time.h>

#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define OP_NAME "LlavaFmaProbe"
#define CHAINS 12

enum { PLAIN = 0, WITH_AVX2 = 1, WITH_AVX512 = 2 };

typedef struct {
  int64_t iterations;
  int path;
} Probe;

static volatile float sink;

__attribute__((target("avx512f"))) static void run_avx512(int64_t iterations) {
  __m512 acc[CHAINS];
  const __m512 m = _mm512_set1_ps(0.999999f);
  const __m512 c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; i++) {
    acc[i] = _mm512_set1_ps((float)i);
  }
  for (int64_t n = 0; n < iterations; n++) {
    for (int i = 0; i < CHAINS; i++) {
      acc[i] = _mm512_fmadd_ps(acc[i], m, c);
    }
  }
  __m512 total = acc[0];
  for (int i = 1; i < CHAINS; i++) {
    total = _mm512_add_ps(total, acc[i]);
  }
  sink = _mm512_reduce_add_ps(total);
}

__attribute__((target("avx2,fma"))) static void run_avx2(int64_t iterations) {
  __m256 acc[CHAINS];
  const __m256 m = _mm256_set1_ps(0.999999f);
  const __m256 c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; i++) {
    acc[i] = _mm256_set1_ps((float)i);
  }
  for (int64_t n = 0; n < iterations; n++) {
    for (int i = 0; i < CHAINS; i++) {
      acc[i] = _mm256_fmadd_ps(acc[i], m, c);
    }
  }
  float out[8];
  __m256 total = acc[0];
  for (int i = 1; i < CHAINS; i++) {
    total = _mm256_add_ps(total, acc[i]);
  }
  _mm256_storeu_ps(out, total);
  sink = out[0] + out[7];
}

static void run_plain(int64_t iterations) {
  float acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) {
    acc[i] = (float)i;
  }
  for (int64_t n = 0; n < iterations; n++) {
    for (int i = 0; i < CHAINS; i++) {
      acc[i] = acc[i] * 0.999999f + 1e-7f;
    }
  }
  float total = 0;
  for (int i = 0; i < CHAINS; i++) {
    total += acc[i];
  }
  sink = total;
}

/* Floats one FMA instruction handles on a path. */
static int lanes(int path) { return path == WITH_AVX512 ? 16 : path == WITH_AVX2 ? 8 : 1; }

static void task(void* arg, int64_t t) {
  (void)t;
  const Probe* p = (const Probe*)arg;
  switch (p->path) {
    case WITH_AVX512:
      run_avx512(p->iterations);
      break;
    case WITH_AVX2:
      run_avx2(p->iterations);
      break;
    default:
      run_plain(p->iterations);
      break;
  }
}

static int best_path(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    return WITH_AVX512;
  }
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? WITH_AVX2 : PLAIN;
}

static void destroy(void* kernel) { free(kernel); }

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const LlavaMatMulAttrs* k = (const LlavaMatMulAttrs*)kernel;
  TF_Status* status = TF_NewStatus();
  TF_Tensor* iterations = NULL;
  TF_Tensor* y = NULL;
  TF_GetInput(ctx, 0, &iterations, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
  } else if (TF_NumDims(iterations) != 0 || *(const int32_t*)TF_TensorData(iterations) < 1) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, OP_NAME ": iterations must be a scalar >= 1");
  } else {
    const int best = best_path();
    Probe p = {.iterations = *(const int32_t*)TF_TensorData(iterations),
               .path = k->path >= 0 && k->path < best ? k->path : best};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    llava_parallel_for(k->num_threads, k->num_threads, task, &p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    const double flops = 2.0 * CHAINS * lanes(p.path) * (double)p.iterations * k->num_threads;
    y = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, NULL, 0, sizeof(float), status);
    if (TF_GetCode(status) != TF_OK_CODE) {
      TF_OpKernelContext_Failure(ctx, status);
    } else {
      *(float*)TF_TensorData(y) = (float)(flops / seconds / 1e9);
    }
  }
  TF_DeleteTensor(iterations);
  TF_DeleteTensor(y);
  TF_DeleteStatus(status);
}

__attribute__((constructor)) static void register_op(void) {
  static const char* const inputs[] = {"iterations: int32"};
  static const char* const outputs[] = {"y: float"};
  static const char* const attrs[] = {"path: int = -1"};
  const LlavaOpSpec spec = {.name = OP_NAME,
                            .inputs = inputs,
                            .n_inputs = 1,
                            .outputs = outputs,
                            .n_outputs = 1,
                            .attrs = attrs,
                            .n_attrs = 1,
                            .create = llava_matmul_attrs_create,
                            .compute = compute,
                            .destroy = destroy};
  llava_register_op(&spec);
}
