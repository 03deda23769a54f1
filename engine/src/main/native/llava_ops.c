/*
 * LlavaPagedAttention: decode attention read in place from the paged KV pool.
 *
 * The graph-only decode path gathers every block a sequence reads into a fresh tensor
 * ([seqs, blocks, kv_heads, block_size, head_dim]) before multiplying, once for keys and once for
 * values, in every layer: the KV bytes cross memory three times. This kernel walks each
 * sequence's block table and reads the pool variables where they lie, so the bytes cross once.
 *
 * Inputs:
 *   q             float [T, H, D]   queries, already scaled: rows 0 .. S-1 are the decode
 *                                   tokens, one per sequence; rows past S (the step's prefill
 *                                   tokens) are not read, so q needs no slice
 *   k_cache       resource          float or half [N, KVH, BS, D]
 *   v_cache       resource          float or half [N, KVH, BS, D] (the same type as k_cache)
 *   block_tables  int32 [S, B]      pool block of each sequence's i-th block
 *   context_lens  int32 [S]         keys each sequence attends to (positions 0 .. len-1)
 * Output:
 *   out           float [S, H * D]
 * Attrs:
 *   num_threads   int               worker threads for one call (the calling thread included)
 *   path          int               -1: the best this CPU has; 0 plain, 1 AVX2 + FMA + F16C,
 *                                   2 AVX-512F: at most this (tests force the lower paths)
 *
 * Grouped-query attention: query head h reads kv head h / (H / KVH).
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"
#include "vec_exp.h"

#define OP_NAME "LlavaPagedAttention"
/*
 * Below this many key rows (summed over kv heads) a thread, threads cost more than they save. A
 * decode step's keys come from memory, not cache (the weights streamed between two layers' calls
 * push them out), so a second thread pays off early: one sequence of 160 keys, 16 kv heads, on a
 * 2-core AMD EPYC (Zen 3) in a C harness over pools larger than the L3, 1.7 times as fast on two
 * threads as on one; at 32 keys one thread was a little faster (0.38 against 0.44 ms a step of 64
 * layers), at 64 two threads were twice as fast.
 */
#define MIN_ROWS_PER_THREAD 1024

typedef struct {
  const float* q;
  const void* k; /* float or _Float16 */
  const void* v;
  int half;
  const int32_t* tables;
  const int32_t* lens;
  float* out;
  int64_t heads, kv_heads, head_dim, block_size, max_blocks;
  int64_t heads_per_task; /* consecutive kv heads of one sequence that one task attends */
  int path;
} Work;

/* Pool rows of kv head kvh in the block holding key l: block_size rows of head_dim. */
#define HEAD_ROWS(W, POOL, TABLE, KVH, L)                                                         \
  ((POOL) + ((int64_t)(TABLE)[(L) / (W)->block_size] * (W)->kv_heads + (KVH)) *                   \
                (W)->block_size * (W)->head_dim)

/*
 * A block's rows of one kv head lie together (block_size x head_dim), but the next block of the
 * same sequence is anywhere in the pool, where the hardware prefetchers do not follow: each block
 * is asked for while the one before it is read.
 */
static inline void prefetch_rows(const void* rows, size_t bytes) {
  const char* p = (const char*)rows;
  for (size_t at = 0; at < bytes; at += 64) {
    __builtin_prefetch(p + at, 0, 3);
  }
}

/*
 * The start of one (sequence, kv head) item: its sizes, its query and output rows (the output
 * zeroed), the pools as T, and a return for an empty context.
 */
#define ITEM_BEGIN(T)                                                                             \
    const int64_t s = item / w->kv_heads;                                                         \
    const int64_t kvh = item % w->kv_heads;                                                       \
    const int64_t d = w->head_dim;                                                                \
    const int64_t bs = w->block_size;                                                             \
    const int64_t group = w->heads / w->kv_heads;                                                 \
    const int64_t len = w->lens[s];                                                               \
    const int32_t* table = w->tables + s * w->max_blocks;                                         \
    const float* q = w->q + (s * w->heads + kvh * group) * d;                                     \
    float* out = w->out + (s * w->heads + kvh * group) * d;                                       \
    const T* keys = (const T*)w->k;                                                               \
    const T* values = (const T*)w->v;                                                             \
    const size_t chunk = (size_t)(bs * d) * sizeof(T);                                            \
    memset(out, 0, (size_t)(group * d) * sizeof(float));                                          \
    if (len == 0) {                                                                               \
      return;                                                                                     \
    }

/* Probabilities in place over len scores: exp(s - max) / sum, a score at a time. */
#define SOFTMAX_ROW(SG, LEN)                                                                      \
  do {                                                                                            \
    float* sg_ = (SG);                                                                            \
    float max_ = sg_[0];                                                                          \
    for (int64_t l_ = 1; l_ < (LEN); l_++) {                                                      \
      max_ = sg_[l_] > max_ ? sg_[l_] : max_;                                                     \
    }                                                                                             \
    float sum_ = 0.0f;                                                                            \
    for (int64_t l_ = 0; l_ < (LEN); l_++) {                                                      \
      sg_[l_] = expf(sg_[l_] - max_);                                                             \
      sum_ += sg_[l_];                                                                            \
    }                                                                                             \
    const float inv_ = 1.0f / sum_;                                                               \
    for (int64_t l_ = 0; l_ < (LEN); l_++) {                                                      \
      sg_[l_] *= inv_;                                                                            \
    }                                                                                             \
  } while (0)

/*
 * One (sequence, kv head): the group of query heads that share it, over all its keys. Defined once
 * per pool element type T (float, or _Float16 converted to float as it is read) and path: DOT
 * scores a key, VALUES sums the value rows weighted by the probabilities.
 */
#define DEFINE_ATTEND(NAME, T, TARGET, DOT, VALUES)                                               \
  TARGET static void NAME(const Work* w, int64_t item, float* scores) {                           \
    ITEM_BEGIN(T)                                                                                 \
    prefetch_rows(HEAD_ROWS(w, keys, table, kvh, 0), chunk);                                      \
    for (int64_t l = 0; l < len; l += bs) {                                                       \
      const T* kb = HEAD_ROWS(w, keys, table, kvh, l);                                            \
      const int64_t n = len - l < bs ? len - l : bs;                                              \
      if (l + bs < len) {                                                                         \
        prefetch_rows(HEAD_ROWS(w, keys, table, kvh, l + bs), chunk);                             \
      }                                                                                           \
      for (int64_t t = 0; t < n; t++) {                                                           \
        const T* key = kb + t * d;                                                                \
        for (int64_t g = 0; g < group; g++) {                                                     \
          scores[g * len + l + t] = DOT(q + g * d, key, d);                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    prefetch_rows(HEAD_ROWS(w, values, table, kvh, 0), chunk);                                    \
    for (int64_t g = 0; g < group; g++) {                                                         \
      SOFTMAX_ROW(scores + g * len, len);                                                         \
    }                                                                                             \
    VALUES(w, values, table, kvh, len, scores, out);                                              \
  }

/*
 * The weighted sum of value rows, out[g] = sum over keys of p[g, key] * value[key], in key order
 * (out starts at zero). AXPY adds one row to out in memory: the plain path, and the head_dim
 * left over after the vector path's columns of NV vectors.
 */
#define DEFINE_VALUES_BY_ROW(NAME, T, ROWS_FROM)                                                  \
  static void NAME(const Work* w, const T* values, const int32_t* table, int64_t kvh, int64_t len, \
                   const float* scores, float* out) {                                             \
    ROWS_FROM(w, values, table, kvh, len, scores, out, 0);                                        \
  }

#define DEFINE_ROWS_FROM(NAME, T, TARGET, AXPY)                                                   \
  TARGET static void NAME(const Work* w, const T* values, const int32_t* table, int64_t kvh,      \
                          int64_t len, const float* scores, float* out, int64_t from) {           \
    const int64_t d = w->head_dim;                                                                \
    const int64_t bs = w->block_size;                                                             \
    const int64_t group = w->heads / w->kv_heads;                                                 \
    const size_t chunk = (size_t)(bs * d) * sizeof(T);                                            \
    for (int64_t l = 0; l < len; l += bs) {                                                       \
      const T* vb = HEAD_ROWS(w, values, table, kvh, l);                                          \
      const int64_t n = len - l < bs ? len - l : bs;                                              \
      if (l + bs < len) {                                                                         \
        prefetch_rows(HEAD_ROWS(w, values, table, kvh, l + bs), chunk);                           \
      }                                                                                           \
      for (int64_t t = 0; t < n; t++) {                                                           \
        const T* value = vb + t * d;                                                              \
        for (int64_t g = 0; g < group; g++) {                                                     \
          AXPY(out + g * d + from, scores[g * len + l + t], value + from, d - from);              \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

/*
 * The vector paths keep NV vectors of out in registers over all the keys, column by column of
 * NV * LANES floats, so that no key waits on the last one's store: the same fused multiply-adds in
 * the same order as a row at a time, so the same bits. LOAD converts LANES pool elements to float.
 */
#define DEFINE_VALUES_IN_REGISTERS(NAME, T, TARGET, V, LANES, NV, ZERO, LOAD, BCAST, FMA, STORE,  \
                                   ROWS_FROM, DIST)                                               \
  TARGET static void NAME(const Work* w, const T* values, const int32_t* table, int64_t kvh,      \
                          int64_t len, const float* scores, float* out) {                         \
    const int64_t d = w->head_dim;                                                                \
    const int64_t bs = w->block_size;                                                             \
    const int64_t group = w->heads / w->kv_heads;                                                 \
    const size_t chunk = (size_t)(bs * d) * sizeof(T);                                            \
    const int64_t wide = d - d % (NV * LANES);                                                    \
    for (int64_t g = 0; g < group; g++) {                                                         \
      const float* sg = scores + g * len;                                                         \
      for (int64_t c = 0; c < wide; c += NV * LANES) {                                            \
        V acc[NV];                                                                                \
        _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                                    \
          acc[j] = ZERO();                                                                        \
        }                                                                                         \
        for (int64_t l = 0; l < len; l += bs) {                                                   \
          const T* vb = HEAD_ROWS(w, values, table, kvh, l) + c;                                  \
          const int64_t n = len - l < bs ? len - l : bs;                                          \
          if (l + (DIST) * bs < len) {                                                            \
            prefetch_rows(HEAD_ROWS(w, values, table, kvh, l + (DIST) * bs), chunk);              \
          }                                                                                       \
          for (int64_t t = 0; t < n; t++) {                                                       \
            const V p = BCAST(sg[l + t]);                                                         \
            const T* row = vb + t * d;                                                            \
            _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                                \
              acc[j] = FMA(p, LOAD(row + j * LANES), acc[j]);                                     \
            }                                                                                     \
          }                                                                                       \
        }                                                                                         \
        _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                                    \
          STORE(out + g * d + c + j * LANES, acc[j]);                                             \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    if (wide < d) {                                                                               \
      ROWS_FROM(w, values, table, kvh, len, scores, out, wide);                                   \
    }                                                                                             \
  }

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f")))

/*
 * Dot products and value updates, one set per path. A path sums a dot product in its own lane
 * order (plain: one running sum; AVX2: eight lanes; AVX-512: sixteen), so a query row's result
 * depends only on the path, never on which other rows or sequences share the call.
 */
static inline float dot_f32(const float* q, const float* k, int64_t d) {
  float acc = 0.0f;
  for (int64_t i = 0; i < d; i++) {
    acc += q[i] * k[i];
  }
  return acc;
}

static inline void axpy_f32(float* o, float p, const float* v, int64_t d) {
  for (int64_t i = 0; i < d; i++) {
    o[i] += p * v[i];
  }
}

static inline float dot_f16(const float* q, const _Float16* k, int64_t d) {
  float acc = 0.0f;
  for (int64_t i = 0; i < d; i++) {
    acc += q[i] * (float)k[i];
  }
  return acc;
}

static inline void axpy_f16(float* o, float p, const _Float16* v, int64_t d) {
  for (int64_t i = 0; i < d; i++) {
    o[i] += p * (float)v[i];
  }
}

AVX2 static inline float hsum256(__m256 acc) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2 static inline void axpy_f32_avx2(float* o, float p, const float* v, int64_t d) {
  const __m256 pv = _mm256_set1_ps(p);
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(o + i)));
  }
  for (; i < d; i++) {
    o[i] += p * v[i];
  }
}

/* float16 rows with F16C: eight halves converted per instruction. */
AVX2 static inline void axpy_f16_avx2(float* o, float p, const _Float16* v, int64_t d) {
  const __m256 pv = _mm256_set1_ps(p);
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(pv,
                                            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(v + i))),
                                            _mm256_loadu_ps(o + i)));
  }
  for (; i < d; i++) {
    o[i] += p * (float)v[i];
  }
}

AVX512 static inline float dot_f32_avx512(const float* q, const float* k, int64_t d) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + i), acc);
  }
  float total = _mm512_reduce_add_ps(acc);
  for (; i < d; i++) {
    total += q[i] * k[i];
  }
  return total;
}

AVX512 static inline void axpy_f32_avx512(float* o, float p, const float* v, int64_t d) {
  const __m512 pv = _mm512_set1_ps(p);
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    _mm512_storeu_ps(o + i, _mm512_fmadd_ps(pv, _mm512_loadu_ps(v + i), _mm512_loadu_ps(o + i)));
  }
  for (; i < d; i++) {
    o[i] += p * v[i];
  }
}

AVX512 static inline float dot_f16_avx512(const float* q, const _Float16* k, int64_t d) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i),
                          _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(k + i))), acc);
  }
  float total = _mm512_reduce_add_ps(acc);
  for (; i < d; i++) {
    total += q[i] * (float)k[i];
  }
  return total;
}

AVX512 static inline void axpy_f16_avx512(float* o, float p, const _Float16* v, int64_t d) {
  const __m512 pv = _mm512_set1_ps(p);
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    _mm512_storeu_ps(
        o + i, _mm512_fmadd_ps(pv, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(v + i))),
                               _mm512_loadu_ps(o + i)));
  }
  for (; i < d; i++) {
    o[i] += p * (float)v[i];
  }
}

/* Pool rows read as float vectors, for the values kept in registers. */
AVX2 static inline __m256 load_f32_avx2(const float* p) { return _mm256_loadu_ps(p); }
AVX2 static inline __m256 load_f16_avx2(const _Float16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
}
AVX512 static inline __m512 load_f32_avx512(const float* p) { return _mm512_loadu_ps(p); }
AVX512 static inline __m512 load_f16_avx512(const _Float16* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p));
}

/*
 * Blocks of a sequence asked for ahead of the one being read on the AVX-512 path (up to 16 KiB of
 * float16 rows in flight per item).
 */
#define AHEAD 8

DEFINE_ROWS_FROM(rows_f32_plain, float, , axpy_f32)
DEFINE_ROWS_FROM(rows_f16_plain, _Float16, , axpy_f16)
DEFINE_ROWS_FROM(rows_f32_avx512, float, AVX512, axpy_f32_avx512)
DEFINE_ROWS_FROM(rows_f16_avx512, _Float16, AVX512, axpy_f16_avx512)

DEFINE_VALUES_BY_ROW(values_f32_plain, float, rows_f32_plain)
DEFINE_VALUES_BY_ROW(values_f16_plain, _Float16, rows_f16_plain)
/* 64 columns at a time: four 16-lane vectors with AVX-512. */
DEFINE_VALUES_IN_REGISTERS(values_f32_avx512, float, AVX512, __m512, 16, 4, _mm512_setzero_ps,
                           load_f32_avx512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps,
                           rows_f32_avx512, AHEAD)
DEFINE_VALUES_IN_REGISTERS(values_f16_avx512, _Float16, AVX512, __m512, 16, 4, _mm512_setzero_ps,
                           load_f16_avx512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps,
                           rows_f16_avx512, AHEAD)

DEFINE_ATTEND(attend_f32_plain, float, , dot_f32, values_f32_plain)
DEFINE_ATTEND(attend_f16_plain, _Float16, , dot_f16, values_f16_plain)

/*
 * How far ahead in its blocks a task that walks them (DEFINE_ATTEND_TASK) asks for
 * rows: about 16 KiB of them, and at least the next block. Of a block that far on it asks for the
 * first ASK_BYTES of the task's run (all of a shorter run): a longer run is one stream the
 * hardware prefetcher follows, and asking for all 32 KiB of it measured 10% slower (AVX-512,
 * decode attention of 32 sequences at ~290 keys).
 */
#define AHEAD_BYTES 16384
#define ASK_BYTES 4096

DEFINE_ATTEND(attend_f32_avx512, float, AVX512, dot_f32_avx512, values_f32_avx512)
DEFINE_ATTEND(attend_f16_avx512, _Float16, AVX512, dot_f16_avx512, values_f16_avx512)

/*
 * AVX-512 with head_dim a multiple of 16: sixteen keys scored at once, each key's sixteen lane
 * sums added pairwise across the sixteen accumulators (a transpose by halves, quarters, pairs and
 * single lanes) into one vector of sixteen scores, instead of a horizontal sum per key; the
 * softmax on vectors (exp512).
 */
AVX512 static inline __m512 sum16(__m512 a[16]) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; i++) {
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
  }
  for (int i = 0; i < 4; i++) {
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xDD));
  }
  for (int i = 0; i < 2; i++) {
    const __m512d x = _mm512_castps_pd(c[2 * i]);
    const __m512d y = _mm512_castps_pd(c[2 * i + 1]);
    d[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  /* element 4j + k now holds key 4k + j */
  const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88),
                                 _mm512_shuffle_ps(d[0], d[1], 0xDD));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, e);
}

/* probabilities in place: p = exp(s - max) / sum, over len scores */
AVX512 static void softmax_avx512(float* s, int64_t len) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int64_t l = 0;
  for (; l + 16 <= len; l += 16) {
    mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + l));
  }
  const __mmask16 tail = (__mmask16)((1u << (len - l)) - 1);
  if (tail) {
    mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, s + l));
  }
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (l = 0; l + 16 <= len; l += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + l), m));
    _mm512_storeu_ps(s + l, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (tail) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + l), m));
    _mm512_mask_storeu_ps(s + l, tail, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(tail, e));
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (l = 0; l + 16 <= len; l += 16) {
    _mm512_storeu_ps(s + l, _mm512_mul_ps(_mm512_loadu_ps(s + l), inv));
  }
  if (tail) {
    _mm512_mask_storeu_ps(s + l, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, s + l), inv));
  }
}

/* out[t] = q . keys[t] for m <= 16 keys, rows d apart, d a multiple of 16 */
#define DEFINE_DOTS16(NAME, T, LOAD)                                                              \
  AVX512 static inline void NAME(const float* q, const T* keys, int64_t d, int64_t m, float* out) { \
    __m512 a[16];                                                                                 \
    _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) { a[t] = _mm512_setzero_ps(); }         \
    if (m == 16) {                                                                                \
      for (int64_t c = 0; c < d; c += 16) {                                                       \
        const __m512 qc = _mm512_loadu_ps(q + c);                                                 \
        _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) {                                   \
          a[t] = _mm512_fmadd_ps(qc, LOAD(keys + t * d + c), a[t]);                               \
        }                                                                                         \
      }                                                                                           \
      _mm512_storeu_ps(out, sum16(a));                                                            \
      return;                                                                                     \
    }                                                                                             \
    for (int64_t c = 0; c < d; c += 16) {                                                         \
      const __m512 qc = _mm512_loadu_ps(q + c);                                                   \
      for (int t = 0; t < m; t++) {                                                               \
        a[t] = _mm512_fmadd_ps(qc, LOAD(keys + t * d + c), a[t]);                                 \
      }                                                                                           \
    }                                                                                             \
    _mm512_mask_storeu_ps(out, (__mmask16)((1u << m) - 1), sum16(a));                            \
  }

DEFINE_DOTS16(dots16_f32, float, load_f32_avx512)
DEFINE_DOTS16(dots16_f16, _Float16, load_f16_avx512)


/*
 * One task that walks its blocks (AVX-512 with head_dim a multiple of 16, and AVX2):
 * heads_per_task consecutive kv heads of one sequence, block by block. Within a block a head's
 * rows follow the one before's, so the task reads its heads' part of each block as one run (all of
 * it when the task has every head: one 32 KiB run of float16 keys per block for 16 heads of 64),
 * where a head at a time read 2 KiB runs a block apart and the prefetchers lost the stream at
 * every block. Every query head's scores (SCORE_KEYS: one head's keys of a block for its group of
 * query rows), softmax (SOFTMAX) and values (SUM_VALUES: one head's values of a block added into
 * an output row, the row zeroed first and carried from block to block) are the same operations in
 * the same key order as a head at a time, so a row's result is the same bits whichever heads share
 * its task.
 */
#define DEFINE_ATTEND_TASK(NAME, T, TARGET, SCORE_KEYS, SOFTMAX, SUM_VALUES)                      \
  TARGET static void NAME(const Work* w, int64_t task, float* scores) {                           \
    const int64_t per = w->heads_per_task;                                                        \
    const int64_t s = task * per / w->kv_heads;                                                   \
    const int64_t kvh0 = task * per % w->kv_heads;                                                \
    const int64_t d = w->head_dim;                                                                \
    const int64_t bs = w->block_size;                                                             \
    const int64_t group = w->heads / w->kv_heads;                                                 \
    const int64_t len = w->lens[s];                                                               \
    const int32_t* table = w->tables + s * w->max_blocks;                                         \
    const float* q = w->q + (s * w->heads + kvh0 * group) * d;                                    \
    float* out = w->out + (s * w->heads + kvh0 * group) * d;                                      \
    const T* keys = (const T*)w->k;                                                               \
    const T* values = (const T*)w->v;                                                             \
    const size_t run = (size_t)(per * bs * d) * sizeof(T); /* the task's part of a block */      \
    const size_t ask = run < ASK_BYTES ? run : ASK_BYTES;                                         \
    int64_t ahead = (int64_t)(AHEAD_BYTES / run);                                                 \
    ahead = ahead < 1 ? 1 : ahead;                                                                \
    memset(out, 0, (size_t)(per * group * d) * sizeof(float));                                    \
    if (len == 0) {                                                                               \
      return;                                                                                     \
    }                                                                                             \
    for (int64_t l = 0; l < len && l < ahead * bs; l += bs) {                                     \
      prefetch_rows(HEAD_ROWS(w, keys, table, kvh0, l), run);                                     \
    }                                                                                             \
    for (int64_t l = 0; l < len; l += bs) {                                                       \
      const T* kb = HEAD_ROWS(w, keys, table, kvh0, l);                                           \
      const int64_t n = len - l < bs ? len - l : bs;                                              \
      if (l + ahead * bs < len) {                                                                 \
        prefetch_rows(HEAD_ROWS(w, keys, table, kvh0, l + ahead * bs), ask);                      \
      }                                                                                           \
      for (int64_t h = 0; h < per; h++) {                                                         \
        SCORE_KEYS(q + h * group * d, kb + h * bs * d, d, n, group, scores + h * group * len + l,  \
                   len);                                                                          \
      }                                                                                           \
    }                                                                                             \
    for (int64_t l = 0; l < len && l < ahead * bs; l += bs) {                                     \
      prefetch_rows(HEAD_ROWS(w, values, table, kvh0, l), run);                                   \
    }                                                                                             \
    for (int64_t row = 0; row < per * group; row++) {                                             \
      SOFTMAX(scores + row * len, len);                                                           \
    }                                                                                             \
    for (int64_t l = 0; l < len; l += bs) {                                                       \
      const T* vb = HEAD_ROWS(w, values, table, kvh0, l);                                         \
      const int64_t n = len - l < bs ? len - l : bs;                                              \
      if (l + ahead * bs < len) {                                                                 \
        prefetch_rows(HEAD_ROWS(w, values, table, kvh0, l + ahead * bs), ask);                    \
      }                                                                                           \
      for (int64_t row = 0; row < per * group; row++) {                                           \
        SUM_VALUES(scores + row * len + l, vb + row / group * bs * d, d, n, out + row * d);       \
      }                                                                                           \
    }                                                                                             \
  }

/*
 * The blocks' parts, per path and pool type. AVX-512: sixteen keys scored at once (DOTS), 64
 * value columns in four registers over a block's keys and the columns past them a vector at a
 * time. AVX2: eight keys scored at once (DOTS), 64 value columns in eight registers and the
 * columns past them a key at a time (AXPY).
 */
#define DEFINE_BLOCK_PARTS_AVX512(SUFFIX, T, DOTS, LOAD)                                          \
  AVX512 static inline void score_keys_##SUFFIX(const float* q, const T* kh, int64_t d, int64_t n, \
                                                int64_t group, float* sc, int64_t len) {          \
    for (int64_t t = 0; t < n; t += 16) {                                                         \
      const int64_t m = n - t < 16 ? n - t : 16;                                                  \
      for (int64_t g = 0; g < group; g++) {                                                       \
        DOTS(q + g * d, kh + t * d, d, m, sc + g * len + t);                                      \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
  AVX512 static inline void sum_values_##SUFFIX(const float* p, const T* vh, int64_t d,           \
                                                int64_t n, float* o) {                            \
    int64_t c = 0;                                                                                \
    for (; c + 64 <= d; c += 64) {                                                                \
      __m512 acc0 = _mm512_loadu_ps(o + c);                                                       \
      __m512 acc1 = _mm512_loadu_ps(o + c + 16);                                                  \
      __m512 acc2 = _mm512_loadu_ps(o + c + 32);                                                  \
      __m512 acc3 = _mm512_loadu_ps(o + c + 48);                                                  \
      for (int64_t t = 0; t < n; t++) {                                                           \
        const __m512 pt = _mm512_set1_ps(p[t]);                                                   \
        const T* r = vh + t * d + c;                                                              \
        acc0 = _mm512_fmadd_ps(pt, LOAD(r), acc0);                                                \
        acc1 = _mm512_fmadd_ps(pt, LOAD(r + 16), acc1);                                           \
        acc2 = _mm512_fmadd_ps(pt, LOAD(r + 32), acc2);                                           \
        acc3 = _mm512_fmadd_ps(pt, LOAD(r + 48), acc3);                                           \
      }                                                                                           \
      _mm512_storeu_ps(o + c, acc0);                                                              \
      _mm512_storeu_ps(o + c + 16, acc1);                                                         \
      _mm512_storeu_ps(o + c + 32, acc2);                                                         \
      _mm512_storeu_ps(o + c + 48, acc3);                                                         \
    }                                                                                             \
    for (; c < d; c += 16) {                                                                      \
      __m512 acc = _mm512_loadu_ps(o + c);                                                        \
      for (int64_t t = 0; t < n; t++) {                                                           \
        acc = _mm512_fmadd_ps(_mm512_set1_ps(p[t]), LOAD(vh + t * d + c), acc);                   \
      }                                                                                           \
      _mm512_storeu_ps(o + c, acc);                                                               \
    }                                                                                             \
  }

/*
 * AVX2: eight keys scored at once, each in its own accumulator over the vector columns, the eight
 * lane sums added pairwise across them (sum8) into one vector of eight scores instead of a
 * horizontal sum per key; head_dim's columns past a multiple of 8 are added a key at a time after.
 * A key's score takes the same operations however many keys share its group of eight.
 */
AVX2 static inline __m256 sum8(const __m256 a[8]) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]); /* lanes 0+1, 2+3 of keys 0, 1; then 4+5, 6+7 */
  const __m256 t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1); /* keys 0-3: lanes 0-3, then lanes 4-7 */
  const __m256 u1 = _mm256_hadd_ps(t2, t3); /* keys 4-7 */
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* out[t] = q . keys[t] for m <= 8 keys, rows d apart */
#define DEFINE_DOTS8(NAME, T, LOAD)                                                               \
  AVX2 static inline void NAME(const float* q, const T* keys, int64_t d, int64_t m, float* out) { \
    const int64_t wide = d - d % 8;                                                               \
    __m256 a[8];                                                                                  \
    _Pragma("GCC unroll 8") for (int t = 0; t < 8; t++) { a[t] = _mm256_setzero_ps(); }           \
    if (m == 8) {                                                                                 \
      for (int64_t c = 0; c < wide; c += 8) {                                                     \
        const __m256 qc = _mm256_loadu_ps(q + c);                                                 \
        _Pragma("GCC unroll 8") for (int t = 0; t < 8; t++) {                                     \
          a[t] = _mm256_fmadd_ps(qc, LOAD(keys + t * d + c), a[t]);                               \
        }                                                                                         \
      }                                                                                           \
    } else {                                                                                      \
      for (int64_t c = 0; c < wide; c += 8) {                                                     \
        const __m256 qc = _mm256_loadu_ps(q + c);                                                 \
        for (int64_t t = 0; t < m; t++) {                                                         \
          a[t] = _mm256_fmadd_ps(qc, LOAD(keys + t * d + c), a[t]);                               \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    if (m == 8 && wide == d) { /* the usual case: the eight scores stored as one vector */       \
      _mm256_storeu_ps(out, sum8(a));                                                             \
      return;                                                                                     \
    }                                                                                             \
    float sums[8];                                                                                \
    _mm256_storeu_ps(sums, sum8(a));                                                              \
    for (int64_t t = 0; t < m; t++) {                                                             \
      float total = sums[t];                                                                      \
      for (int64_t c = wide; c < d; c++) {                                                        \
        total += q[c] * (float)keys[t * d + c];                                                   \
      }                                                                                           \
      out[t] = total;                                                                             \
    }                                                                                             \
  }

DEFINE_DOTS8(dots8_f32, float, load_f32_avx2)
DEFINE_DOTS8(dots8_f16, _Float16, load_f16_avx2)

/* Probabilities in place, p = exp(s - max) / sum over len scores, eight at a time (exp256). */
AVX2 static void softmax_avx2(float* s, int64_t len) {
  const int64_t wide = len - len % 8;
  __m256 mx = _mm256_set1_ps(-INFINITY);
  for (int64_t l = 0; l < wide; l += 8) {
    mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + l));
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float top = _mm_cvtss_f32(h);
  for (int64_t l = wide; l < len; l++) {
    top = s[l] > top ? s[l] : top;
  }
  const __m256 m = _mm256_set1_ps(top);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t l = 0; l < wide; l += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + l), m));
    _mm256_storeu_ps(s + l, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (wide < len) {
    /* the last scores in a vector of their own, its lanes past len zeroed after the exponential */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(len - wide)), lane);
    const __m256 x = _mm256_maskload_ps(s + wide, keep);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(x, m)), _mm256_castsi256_ps(keep));
    _mm256_maskstore_ps(s + wide, keep, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / hsum256(sum));
  for (int64_t l = 0; l < wide; l += 8) {
    _mm256_storeu_ps(s + l, _mm256_mul_ps(_mm256_loadu_ps(s + l), inv));
  }
  if (wide < len) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(len - wide)), lane);
    _mm256_maskstore_ps(s + wide, keep, _mm256_mul_ps(_mm256_maskload_ps(s + wide, keep), inv));
  }
}

#define DEFINE_BLOCK_PARTS_AVX2(SUFFIX, T, DOTS, LOAD, AXPY)                                      \
  AVX2 static inline void score_keys_##SUFFIX(const float* q, const T* kh, int64_t d, int64_t n,   \
                                              int64_t group, float* sc, int64_t len) {            \
    for (int64_t t = 0; t < n; t += 8) {                                                          \
      const int64_t m = n - t < 8 ? n - t : 8;                                                    \
      for (int64_t g = 0; g < group; g++) {                                                       \
        DOTS(q + g * d, kh + t * d, d, m, sc + g * len + t);                                      \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
  AVX2 static inline void sum_values_##SUFFIX(const float* p, const T* vh, int64_t d, int64_t n,   \
                                              float* o) {                                         \
    const int64_t wide = d - d % 64;                                                              \
    for (int64_t c = 0; c < wide; c += 64) {                                                      \
      __m256 acc[8];                                                                              \
      _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {                                       \
        acc[j] = _mm256_loadu_ps(o + c + 8 * j);                                                  \
      }                                                                                           \
      for (int64_t t = 0; t < n; t++) {                                                           \
        const __m256 pt = _mm256_set1_ps(p[t]);                                                   \
        const T* r = vh + t * d + c;                                                              \
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {                                     \
          acc[j] = _mm256_fmadd_ps(pt, LOAD(r + 8 * j), acc[j]);                                  \
        }                                                                                         \
      }                                                                                           \
      _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {                                       \
        _mm256_storeu_ps(o + c + 8 * j, acc[j]);                                                  \
      }                                                                                           \
    }                                                                                             \
    if (wide < d) {                                                                               \
      for (int64_t t = 0; t < n; t++) {                                                           \
        AXPY(o + wide, p[t], vh + t * d + wide, d - wide);                                        \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_BLOCK_PARTS_AVX512(f32_avx512, float, dots16_f32, load_f32_avx512)
DEFINE_BLOCK_PARTS_AVX512(f16_avx512, _Float16, dots16_f16, load_f16_avx512)
DEFINE_BLOCK_PARTS_AVX2(f32_avx2, float, dots8_f32, load_f32_avx2, axpy_f32_avx2)
DEFINE_BLOCK_PARTS_AVX2(f16_avx2, _Float16, dots8_f16, load_f16_avx2, axpy_f16_avx2)

DEFINE_ATTEND_TASK(attend_task16_f32_avx512, float, AVX512, score_keys_f32_avx512, softmax_avx512,
                   sum_values_f32_avx512)
DEFINE_ATTEND_TASK(attend_task16_f16_avx512, _Float16, AVX512, score_keys_f16_avx512,
                   softmax_avx512, sum_values_f16_avx512)
DEFINE_ATTEND_TASK(attend_task_f32_avx2, float, AVX2, score_keys_f32_avx2, softmax_avx2,
                   sum_values_f32_avx2)
DEFINE_ATTEND_TASK(attend_task_f16_avx2, _Float16, AVX2, score_keys_f16_avx2, softmax_avx2,
                   sum_values_f16_avx2)

enum { PLAIN = 0, WITH_AVX2 = 1, WITH_AVX512 = 2 };

static int best_path = PLAIN;
static pthread_once_t path_once = PTHREAD_ONCE_INIT;

static void choose_path(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    best_path = WITH_AVX512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c")) {
    best_path = WITH_AVX2;
  } else {
    best_path = PLAIN;
  }
}

static void attend(const Work* w, int64_t item, float* scores) {
  switch (w->path) {
    case WITH_AVX512: /* head_dim a multiple of 16 goes a task at a time (run_task) */
      w->half ? attend_f16_avx512(w, item, scores) : attend_f32_avx512(w, item, scores);
      break;
    default: /* AVX2 goes a task at a time (run_task) */
      w->half ? attend_f16_plain(w, item, scores) : attend_f32_plain(w, item, scores);
  }
}

/* Each thread's score buffer, grown as needed and kept. */
static __thread float* scratch;
static __thread size_t scratch_floats;

/* The calling thread's score buffer, at least `need` floats. */
static float* scores_for(size_t need) {
  if (need > scratch_floats) {
    free(scratch);
    scratch = malloc((need < 4096 ? 4096 : need) * sizeof(float));
    if (scratch == NULL) {
      scratch_floats = 0;
      abort(); /* the process cannot go on without a few kilobytes */
    }
    scratch_floats = need < 4096 ? 4096 : need;
  }
  return scratch;
}

/*
 * One task: heads_per_task consecutive kv heads of one sequence. Their rows lie side by side in
 * every block the sequence reads: AVX-512 with head_dim a multiple of 16 and AVX2 read them block
 * by block (DEFINE_ATTEND_TASK); the rest (the plain path, AVX-512 at other head dims) goes a head
 * at a time, asking for the next head's first blocks while the last one's values are summed. On
 * AVX2, once keys were scored eight at a time, the walk measured as fast as a head at a time or
 * faster at every shape tried (a C harness on an AMD EPYC Zen 3, float16 pool, 16 heads of 64, 8
 * layers: one sequence of 2,000 keys 10-15% faster, four of 1,000 15-20%). One (sequence, head) a
 * task measured about a third slower for 32 sequences (more hand-offs between threads, and each
 * thread's reads spread over more pages).
 */
static void run_task(void* arg, int64_t task) {
  const Work* w = (const Work*)arg;
  const size_t rows = (size_t)(w->heads / w->kv_heads * w->max_blocks * w->block_size);
  if (w->path == WITH_AVX512 && w->head_dim % 16 == 0) {
    float* scores = scores_for((size_t)w->heads_per_task * rows);
    w->half ? attend_task16_f16_avx512(w, task, scores)
            : attend_task16_f32_avx512(w, task, scores);
    return;
  }
  if (w->path == WITH_AVX2) {
    float* scores = scores_for((size_t)w->heads_per_task * rows);
    w->half ? attend_task_f16_avx2(w, task, scores) : attend_task_f32_avx2(w, task, scores);
    return;
  }
  const int64_t first = task * w->heads_per_task;
  for (int64_t item = first; item < first + w->heads_per_task; item++) {
    attend(w, item, scores_for(rows));
  }
}

/*
 * Kv heads per task: all of a sequence's, halved (while even) until every thread has a task and
 * the tasks share out evenly over the threads, so that one long sequence still spreads over them.
 * Fewer, longer runs read faster than more, shorter ones: on a 2-core AMD EPYC (Zen 3), in a C
 * harness over pools larger than the L3, one sequence of 700 keys on 16 kv heads took 5.6 ms per
 * 32 layers in two tasks of 8 heads against 6.4-6.8 in eight of 2 (the rule before, which asked for
 * at least four tasks a thread), and two sequences 10.2 ms in a task each against 12.1 in eight.
 */
static int64_t heads_per_task(int64_t seqs, int64_t kv_heads, int64_t threads) {
  int64_t per = kv_heads;
  while (threads > 1 && per % 2 == 0 &&
         (seqs * (kv_heads / per) < threads || seqs * (kv_heads / per) % threads != 0)) {
    per /= 2;
  }
  return per;
}

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const LlavaPathKernel* kern = (const LlavaPathKernel*)kernel;
  TF_Status* status = TF_NewStatus();
  LlavaPagedInputs in;
  TF_Tensor* out = NULL;
  char msg[256];

  if (!llava_paged_inputs_begin(ctx, status, OP_NAME, &in)) {
    goto done;
  }
  pthread_once(&path_once, choose_path);
  TF_Tensor* q = in.q;
  TF_Tensor* kc = in.k;
  TF_Tensor* vc = in.v;
  TF_Tensor* tables = in.tables;
  TF_Tensor* lens = in.rows;
  const int pool_type = TF_TensorType(kc);
  if (TF_NumDims(q) != 3 || TF_NumDims(tables) != 2 || TF_NumDims(lens) != 1) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
         OP_NAME ": expected q [T >= S, H, D], block_tables [S, B], context_lens [S]");
    goto done;
  }
  const int64_t seqs = TF_Dim(tables, 0);
  const int64_t heads = TF_Dim(q, 1);
  const int64_t head_dim = TF_Dim(q, 2);
  const int64_t num_blocks = TF_Dim(kc, 0);
  const int64_t kv_heads = TF_Dim(kc, 1);
  const int64_t block_size = TF_Dim(kc, 2);
  const int64_t max_blocks = TF_Dim(tables, 1);
  if (head_dim != TF_Dim(kc, 3) || kv_heads == 0 || heads % kv_heads != 0 ||
      TF_Dim(q, 0) < seqs || TF_Dim(lens, 0) != seqs) {
    snprintf(msg, sizeof msg,
             OP_NAME ": shapes disagree: q [%lld, %lld, %lld], pool kv_heads %lld head_dim %lld,"
                     " block_tables rows %lld, context_lens %lld",
             (long long)TF_Dim(q, 0), (long long)heads, (long long)head_dim, (long long)kv_heads,
             (long long)TF_Dim(kc, 3), (long long)TF_Dim(tables, 0), (long long)TF_Dim(lens, 0));
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
    goto done;
  }
  const int32_t* table_data = TF_TensorData(tables);
  const int32_t* len_data = TF_TensorData(lens);
  int64_t rows = 0;
  for (int64_t s = 0; s < seqs; s++) {
    const int64_t len = len_data[s];
    if (len < 0 || len > max_blocks * block_size) {
      snprintf(msg, sizeof msg, OP_NAME ": context_lens[%lld] = %lld outside [0, %lld]",
               (long long)s, (long long)len, (long long)(max_blocks * block_size));
      llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
      goto done;
    }
    if (!llava_paged_blocks_check(ctx, status, OP_NAME, table_data, s, max_blocks, len,
                                  block_size, num_blocks)) {
      goto done;
    }
    rows += len;
  }

  const int64_t out_dims[2] = {seqs, heads * head_dim};
  out = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, out_dims, 2,
                          (size_t)(seqs * heads * head_dim) * sizeof(float), status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }

  Work w = {.q = TF_TensorData(q),
            .k = TF_TensorData(kc),
            .v = TF_TensorData(vc),
            .half = pool_type == TF_HALF_TYPE,
            .tables = table_data,
            .lens = len_data,
            .out = TF_TensorData(out),
            .heads = heads,
            .kv_heads = kv_heads,
            .head_dim = head_dim,
            .block_size = block_size,
            .max_blocks = max_blocks,
            .path = kern->path >= 0 && kern->path < best_path ? kern->path : best_path};
  int64_t threads = rows * kv_heads / MIN_ROWS_PER_THREAD;
  if (threads > kern->num_threads) {
    threads = kern->num_threads;
  }
  if (threads < 1) {
    threads = 1;
  }
  w.heads_per_task = heads_per_task(seqs, kv_heads, threads);
  llava_parallel_for(seqs * kv_heads / w.heads_per_task, threads, run_task, &w);

done:
  llava_paged_inputs_end(&in);
  TF_DeleteTensor(out);
  TF_DeleteStatus(status);
}

__attribute__((constructor)) static void register_op(void) {
  static const char* const inputs[] = {"q: float", "k_cache: resource", "v_cache: resource",
                                       "block_tables: int32", "context_lens: int32"};
  static const char* const outputs[] = {"out: float"};
  static const char* const attrs[] = {"path: int = -1"};
  const LlavaOpSpec spec = {.name = OP_NAME,
                            .inputs = inputs,
                            .n_inputs = 5,
                            .outputs = outputs,
                            .n_outputs = 1,
                            .attrs = attrs,
                            .n_attrs = 1,
                            .stateful = 1,
                            .create = llava_path_kernel_create,
                            .compute = compute,
                            .destroy = free};
  llava_register_op(&spec);
}

/*
 * LlavaPoolZero: zeroes a KV pool variable in place, once at load. The variable holds an
 * uninitialised buffer (Empty with init = false), so this is the buffer's first touch: its 2 MiB
 * aligned interior is first advised as transparent huge pages (where the kernel allows them, as in
 * its "madvise" mode), so that a pool of gigabytes faults in 2 MiB at a time instead of 4 KiB, then
 * every byte is cleared, 2 MiB per task, on num_threads threads.
 */
#define POOL_ZERO_OP "LlavaPoolZero"
#define HUGE_PAGE (2 << 20)

typedef struct {
  uint8_t* data;
  int64_t bytes;
} PoolZeroWork;

static void zero_chunk(void* arg, int64_t chunk) {
  const PoolZeroWork* w = (const PoolZeroWork*)arg;
  const int64_t from = chunk * HUGE_PAGE;
  const int64_t n = w->bytes - from < HUGE_PAGE ? w->bytes - from : HUGE_PAGE;
  memset(w->data + from, 0, (size_t)n);
}

static void* pool_zero_create(TF_OpKernelConstruction* ctx) {
  int32_t* threads = malloc(sizeof(int32_t));
  *threads = llava_num_threads(ctx);
  return threads;
}

static void pool_zero_compute(void* kernel, TF_OpKernelContext* ctx) {
  TF_Status* status = TF_NewStatus();
  TF_Tensor* pool = NULL;
  TF_GetInputTensorFromVariable(ctx, 0, false, false, true, llava_copy_tensor, &pool, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
  } else {
    PoolZeroWork w = {.data = (uint8_t*)TF_TensorData(pool), .bytes = TF_TensorByteSize(pool)};
    const uintptr_t first = ((uintptr_t)w.data + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    const uintptr_t last = ((uintptr_t)w.data + (uintptr_t)w.bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (last > first) {
      madvise((void*)first, last - first, MADV_HUGEPAGE); /* advice: refused is fine */
    }
    llava_parallel_for((w.bytes + HUGE_PAGE - 1) / HUGE_PAGE, *(int32_t*)kernel, zero_chunk, &w);
  }
  TF_DeleteTensor(pool);
  TF_DeleteStatus(status);
}

__attribute__((constructor)) static void register_pool_zero(void) {
  static const char* const inputs[] = {"pool: resource"};
  const LlavaOpSpec spec = {.name = POOL_ZERO_OP,
                            .inputs = inputs,
                            .n_inputs = 1,
                            .outputs = NULL,
                            .n_outputs = 0,
                            .attrs = NULL,
                            .n_attrs = 0,
                            .stateful = 1,
                            .create = pool_zero_create,
                            .compute = pool_zero_compute,
                            .destroy = free};
  llava_register_op(&spec);
}
