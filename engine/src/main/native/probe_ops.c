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
#include <string.h>
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

/* A probe's measurement for its scalar input `arg` (>= 1): the rate, or < 0 when out of memory. */
typedef double (*Measure)(const LlavaMatMulAttrs* k, int32_t arg);

/*
 * The body of both probes: checks the scalar input, measures, and outputs the rate as a float
 * scalar; `bad_arg` and `no_memory` are the errors' messages.
 */
static void probe_compute(const LlavaMatMulAttrs* k, TF_OpKernelContext* ctx, Measure measure,
                          const char* bad_arg, const char* no_memory) {
  TF_Status* status = TF_NewStatus();
  TF_Tensor* arg = NULL;
  TF_Tensor* y = NULL;
  TF_GetInput(ctx, 0, &arg, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
  } else if (TF_NumDims(arg) != 0 || *(const int32_t*)TF_TensorData(arg) < 1) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, bad_arg);
  } else {
    const double rate = measure(k, *(const int32_t*)TF_TensorData(arg));
    if (rate < 0) {
      llava_fail(ctx, status, TF_RESOURCE_EXHAUSTED_CODE, no_memory);
    } else {
      y = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, NULL, 0, sizeof(float), status);
      if (TF_GetCode(status) != TF_OK_CODE) {
        TF_OpKernelContext_Failure(ctx, status);
      } else {
        *(float*)TF_TensorData(y) = (float)rate;
      }
    }
  }
  TF_DeleteTensor(arg);
  TF_DeleteTensor(y);
  TF_DeleteStatus(status);
}

/* Registers a probe: one int32 scalar input named `input`, a float scalar output, a path attr. */
static void register_probe(const char* name, const char* input,
                           void (*compute)(void* kernel, TF_OpKernelContext* ctx)) {
  const char* const inputs[] = {input};
  static const char* const outputs[] = {"y: float"};
  static const char* const attrs[] = {"path: int = -1"};
  const LlavaOpSpec spec = {.name = name,
                            .inputs = inputs,
                            .n_inputs = 1,
                            .outputs = outputs,
                            .n_outputs = 1,
                            .attrs = attrs,
                            .n_attrs = 1,
                            .stateful = 1,
                            .create = llava_matmul_attrs_create,
                            .compute = compute,
                            .destroy = destroy};
  llava_register_op(&spec);
}

static double fma_measure(const LlavaMatMulAttrs* k, int32_t iterations) {
  const int best = best_path();
  Probe p = {.iterations = iterations, .path = k->path >= 0 && k->path < best ? k->path : best};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  llava_parallel_for(k->num_threads, k->num_threads, task, &p);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  const double flops = 2.0 * CHAINS * lanes(p.path) * (double)p.iterations * k->num_threads;
  return flops / seconds / 1e9;
}

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  probe_compute((const LlavaMatMulAttrs*)kernel, ctx, fma_measure,
                OP_NAME ": iterations must be a scalar >= 1", OP_NAME ": out of memory");
}

__attribute__((constructor)) static void register_op(void) {
  register_probe(OP_NAME, "iterations: int32", compute);
}

/*
 * LlavaReadProbe: the memory read bandwidth this CPU's cores reach, the ceiling of a decode step
 * that streams its weights once (benchmarks report the weight bytes a step reads per second
 * against it).
 *
 * Allocates `megabytes` MiB (beyond the last-level cache), writes it once, then reads it whole
 * three times, each of num_threads threads its own contiguous share, on the widest vectors the path
 * has with four independent accumulators; the output is the best pass's GB/s (10^9 bytes).
 *
 * Inputs:
 *   megabytes   int32 scalar   MiB to stream, >= 1
 * Output:
 *   y           float scalar   GB/s
 * Attrs:
 *   num_threads int            threads (the calling thread included)
 *   path        int            -1: the best this CPU has; 0 plain, 1 AVX2, 2 AVX-512F
 */
#define READ_OP_NAME "LlavaReadProbe"
#define READ_STEP 256 /* bytes a thread reads per round: four 64-byte lines */

typedef struct {
  const uint8_t* data;
  int64_t bytes; /* a multiple of READ_STEP * threads */
  int64_t threads;
  int path;
} ReadProbe;

static volatile uint64_t read_sink;

__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t* p, int64_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t at = 0; at < n; at += READ_STEP) {
    a0 = _mm512_or_si512(a0, _mm512_load_si512((const void*)(p + at)));
    a1 = _mm512_or_si512(a1, _mm512_load_si512((const void*)(p + at + 64)));
    a2 = _mm512_or_si512(a2, _mm512_load_si512((const void*)(p + at + 128)));
    a3 = _mm512_or_si512(a3, _mm512_load_si512((const void*)(p + at + 192)));
  }
  return (uint64_t)_mm512_reduce_or_epi64(
      _mm512_or_si512(_mm512_or_si512(a0, a1), _mm512_or_si512(a2, a3)));
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t* p, int64_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t at = 0; at < n; at += READ_STEP) {
    for (int half = 0; half < 2; half++) {
      const uint8_t* q = p + at + 128 * half;
      a0 = _mm256_or_si256(a0, _mm256_load_si256((const __m256i*)q));
      a1 = _mm256_or_si256(a1, _mm256_load_si256((const __m256i*)(q + 32)));
      a2 = _mm256_or_si256(a2, _mm256_load_si256((const __m256i*)(q + 64)));
      a3 = _mm256_or_si256(a3, _mm256_load_si256((const __m256i*)(q + 96)));
    }
  }
  const __m256i all = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
  return (uint64_t)_mm256_extract_epi64(all, 0) | (uint64_t)_mm256_extract_epi64(all, 3);
}

static uint64_t read_plain(const uint8_t* p, int64_t n) {
  uint64_t a[4] = {0, 0, 0, 0};
  for (int64_t at = 0; at < n; at += 32) {
    for (int i = 0; i < 4; i++) {
      uint64_t v;
      memcpy(&v, p + at + 8 * i, sizeof v);
      a[i] |= v;
    }
  }
  return a[0] | a[1] | a[2] | a[3];
}

static void read_task(void* arg, int64_t t) {
  const ReadProbe* r = (const ReadProbe*)arg;
  const int64_t share = r->bytes / r->threads;
  const uint8_t* p = r->data + t * share;
  switch (r->path) {
    case WITH_AVX512:
      read_sink = read_avx512(p, share);
      break;
    case WITH_AVX2:
      read_sink = read_avx2(p, share);
      break;
    default:
      read_sink = read_plain(p, share);
      break;
  }
}

static int best_read_path(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    return WITH_AVX512;
  }
  return __builtin_cpu_supports("avx2") ? WITH_AVX2 : PLAIN;
}

static double read_measure(const LlavaMatMulAttrs* k, int32_t megabytes) {
  const int64_t threads = k->num_threads > 0 ? k->num_threads : 1;
  const int64_t unit = READ_STEP * threads;
  const int64_t bytes = ((int64_t)megabytes << 20) / unit * unit;
  uint8_t* data = bytes > 0 ? aligned_alloc(64, (size_t)bytes) : NULL;
  if (data == NULL) {
    return -1;
  }
  memset(data, 1, (size_t)bytes);
  const int best = best_read_path();
  ReadProbe r = {.data = data,
                 .bytes = bytes,
                 .threads = threads,
                 .path = k->path >= 0 && k->path < best ? k->path : best};
  double fastest = 0;
  for (int pass = 0; pass < 3; pass++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    llava_parallel_for(threads, threads, read_task, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    const double gbps = (double)bytes / seconds / 1e9;
    fastest = gbps > fastest ? gbps : fastest;
  }
  free(data);
  return fastest;
}

static void read_compute(void* kernel, TF_OpKernelContext* ctx) {
  probe_compute((const LlavaMatMulAttrs*)kernel, ctx, read_measure,
                READ_OP_NAME ": megabytes must be a scalar >= 1", READ_OP_NAME ": out of memory");
}

__attribute__((constructor)) static void register_read_probe(void) {
  register_probe(READ_OP_NAME, "megabytes: int32", read_compute);
}
