/*
 * LlavaPagedPrefillAttention: causal attention of prefill chunks read in place from the paged KV
 * pool.
 *
 * The graph-only prefill path gathers every block a chunk reads into fresh tensors, transposes
 * them, multiplies the whole padded rectangle of queries by keys (the masked half included), adds
 * a mask and takes a softmax of it. This kernel takes a tile of query rows of one sequence and one
 * kv head at a time and walks the keys the tile sees, a chunk at a time (32 keys on AVX-512, 16
 * on AVX2 and in plain C), wherever their blocks lie in the pool: the chunk's keys are widened to
 * float32 (from a float16 pool) and transposed once, and then every query row of the tile and
 * every query head of the kv head's group takes it while it sits in L1. A query's scores against
 * the chunk come out as vectors over its keys, summed from the transposed keys with the query's
 * elements broadcast, several queries at a time (a small matrix product in registers, no
 * horizontal sums); an online softmax (a running maximum and sum per row, the row's output
 * rescaled when the maximum moves) folds the chunk's values in, exponentials taken on whole
 * vectors. A row reads only the keys at or before its position, so no work goes to the masked
 * half.
 *
 * A row's result depends only on the path and its own keys and position: the order of every sum
 * is fixed by the chunks (aligned at key 0), never by the tile or what else shares the call.
 *
 * The queries are read, and the results written, where the step's tokens lie: query r of chunk s
 * is row first_rows[s] + r of q, and its result row first_rows[s] + r - first_rows[0] of out, so
 * that neither needs gathering into a padded [S, Q] rectangle and back (with the decode tokens
 * first and each chunk's tokens in order after them, first_rows[0] is the decode count and out
 * holds the chunks' tokens in token order). The rows a chunk's queries take must not reach the
 * next chunk's first row (or past q's last); out's rows that no query takes are zeros.
 *
 * Inputs:
 *   q             float [T, H, D]     the step's queries, already scaled
 *   k_cache       resource            float or half [N, KVH, BS, D]
 *   v_cache       resource            float or half [N, KVH, BS, D] (the same type as k_cache)
 *   block_tables  int32 [S, B]        pool block of each sequence's i-th block
 *   positions     int32 [S, Q]        each query's position: it sees keys 0 .. position; -1 marks
 *                                     padding (no query: nothing read or written)
 *   first_rows    int32 [S]           q's row of each chunk's query 0
 * Output:
 *   out           float [T - first_rows[0], H * D]
 * Attrs:
 *   num_threads   int                 worker threads for one call (the calling thread included)
 *   path          int                 -1: the best this CPU has; 0 plain, 1 AVX2 + FMA + F16C,
 *                                     2 AVX-512F: at most this (tests force the lower paths)
 *
 * Grouped-query attention: query head h reads kv head h / (H / KVH).
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_registry.h"
#include "vec_exp.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define OP_NAME "LlavaPagedPrefillAttention"
/*
 * Query rows of one sequence per task: TILE_MAX, halved (down to TILE_MIN) while the call would
 * have fewer than four tasks a thread. Every task widens (from a float16 pool) and transposes each
 * chunk of keys it reads, so taller tiles do that less often: on a 2-core AMD EPYC (Zen 3), a
 * 2,048-token prompt of the bench preset (float16, 16 kv heads of 64), this op's time per step
 * went from 1.43-1.56 s with tiles of 32 rows to 1.26-1.32 with 64 and 1.24-1.29 with 128 (two
 * alternating runs, `bench --op-profile`). Results do not depend on the tile (see above).
 */
#define TILE_MAX 128
#define TILE_MIN 32
#define PLAIN_WIDTH 16  /* keys per chunk in plain C */
#define MAX_WIDTH 32    /* keys per chunk on AVX-512 (16 on AVX2) */
/* Below this many query-key products (times head_dim) in a call, threads cost more than they
 * save. */
#define MIN_WORK_PER_THREAD (1 << 18)

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f")))

enum { PLAIN = 0, WITH_AVX2 = 1, WITH_AVX512 = 2 };

typedef struct {
  const float* q;
  const void* k; /* float or _Float16 */
  const void* v;
  int half;
  const int32_t* tables;
  const int32_t* pos;
  const int32_t* first; /* q's row of each chunk's query 0 */
  float* out;           /* row t - first[0] holds q row t's result */
  int64_t seqs, qlen, heads, kv_heads, head_dim, block_size, max_blocks, tile, tiles;
  int path;
} Work;

/* q's row of query r of chunk s. */
static inline int64_t query_row(const Work* w, int64_t s, int64_t r) { return w->first[s] + r; }

/* out's row of query r of chunk s. */
static inline int64_t out_row(const Work* w, int64_t s, int64_t r) {
  return w->first[s] - w->first[0] + r;
}

/* One task: a tile of query rows of one sequence, over one kv head. */
typedef struct {
  int64_t s, kvh, r0, rows, group, d;
  const int32_t* pos; /* the tile's positions */
  int64_t last;       /* the largest of them; -1 when the tile is all padding */
} Tile;

AVX2 static inline float hmax256(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

AVX2 static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* The running maximum m and sum of one query row after a chunk whose largest score is cmax. */
static inline float rescale(float* m, float* sum, float cmax) {
  if (!(cmax > *m)) {
    return 1.0f; /* the maximum stays (or cmax is NaN, which the exponentials carry on) */
  }
  const float alpha = expf(*m - cmax); /* 0 for the first chunk, where *m is -inf */
  *sum *= alpha;
  *m = cmax;
  return alpha;
}


typedef void (*Widen)(const _Float16* src, float* dst, int64_t d);

static void widen_plain(const _Float16* src, float* dst, int64_t d) {
  for (int64_t j = 0; j < d; j++) {
    dst[j] = (float)src[j];
  }
}

AVX2 static void widen_avx2(const _Float16* src, float* dst, int64_t d) {
  for (int64_t j = 0; j < d; j += 8) {
    _mm256_storeu_ps(dst + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src + j))));
  }
}

AVX512 static void widen_avx512(const _Float16* src, float* dst, int64_t d) {
  for (int64_t j = 0; j < d; j += 16) {
    _mm512_storeu_ps(dst + j, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src + j))));
  }
}

/*
 * Transposes a W x W block: rows[i] + j is key i's slice at j; dst[c * stride + i] its element j +
 * c (c < d - j).
 */
static void transpose_plain(const float** rows, int64_t j, int64_t d, float* dst, int stride) {
  const int cols = d - j < PLAIN_WIDTH ? (int)(d - j) : PLAIN_WIDTH;
  for (int i = 0; i < PLAIN_WIDTH; i++) {
    for (int c = 0; c < cols; c++) {
      dst[c * stride + i] = rows[i][j + c];
    }
  }
}

AVX2 static void transpose_avx2(const float** rows, int64_t j, int64_t d, float* dst,
                                int stride) {
  (void)d;
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; i++) {
    r[i] = _mm256_loadu_ps(rows[i] + j);
  }
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_ps(dst + i * stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
  }
}

AVX512 static void transpose_avx512(const float** rows, int64_t j, int64_t d, float* dst,
                                    int stride) {
  (void)d;
  __m512 r[16], t[16], u[16], v[16];
  for (int i = 0; i < 16; i++) {
    r[i] = _mm512_loadu_ps(rows[i] + j);
  }
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  /* u[4b + c] holds, in each 128-bit lane L, column 4L + c of rows 4b .. 4b + 3. */
  for (int c = 0; c < 4; c++) {
    v[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);      /* lanes 0, 2 of rows 0-7 */
    v[4 + c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);  /* lanes 1, 3 */
    v[8 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    v[12 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
  }
  for (int c = 0; c < 4; c++) {
    /* column c (lane 0), c + 8 (lane 2); column c + 4 (lane 1), c + 12 (lane 3) */
    _mm512_storeu_ps(dst + c * stride, _mm512_shuffle_f32x4(v[c], v[8 + c], 0x88));
    _mm512_storeu_ps(dst + (c + 8) * stride, _mm512_shuffle_f32x4(v[c], v[8 + c], 0xDD));
    _mm512_storeu_ps(dst + (c + 4) * stride, _mm512_shuffle_f32x4(v[4 + c], v[12 + c], 0x88));
    _mm512_storeu_ps(dst + (c + 12) * stride, _mm512_shuffle_f32x4(v[4 + c], v[12 + c], 0xDD));
  }
}

typedef void (*Transpose)(const float** rows, int64_t j, int64_t d, float* dst, int stride);

/*
 * A chunk of keys l .. l + n - 1 of kv head kvh of sequence s, laid out for the folds: keys
 * transposed into kt [d][width] float32 (lane i of row j is key i's j-th element; lanes n .. width
 * - 1 zero), values as float32 rows vr[i] (in place for a float32 pool, widened into vbuf for a
 * float16 one, as the keys into kbuf before their transpose; rows n .. width - 1 point at zeros).
 */
static inline void chunk(const Work* w, const Tile* t, int64_t l, int n, int width, float* kt,
                         const float** vr, float* kbuf, float* vbuf, const float* zero,
                         Widen widen, Transpose transpose, int tw) {
  const int32_t* table = w->tables + t->s * w->max_blocks;
  const int64_t d = t->d;
  const float* kr[MAX_WIDTH];
  for (int i = 0; i < width; i++) {
    if (i >= n) {
      kr[i] = zero;
      vr[i] = zero;
      continue;
    }
    const int64_t p = l + i;
    const int64_t at =
        (((int64_t)table[p / w->block_size] * w->kv_heads + t->kvh) * w->block_size +
         p % w->block_size) *
        d;
    if (w->half) {
      widen((const _Float16*)w->k + at, kbuf + i * d, d);
      widen((const _Float16*)w->v + at, vbuf + i * d, d);
      kr[i] = kbuf + i * d;
      vr[i] = vbuf + i * d;
    } else {
      kr[i] = (const float*)w->k + at;
      vr[i] = (const float*)w->v + at;
    }
  }
  for (int64_t j = 0; j < d; j += tw) {
    for (int i = 0; i < width; i += tw) {
      transpose(kr + i, j, d, kt + j * width + i, width);
    }
  }
}

/*
 * Folds a chunk into query vectors: their scores against its keys, the running maximum and sum,
 * and its values. q[a], o[a], m[a], sum[a] are query vector a's row, output and state; it sees the
 * chunk's first seen[a] keys.
 */
static inline void fold_plain(int nq, const float* const* q, float* const* o, float* const* m,
                       float* const* sum, const int* seen, const float* kt, const float** vr,
                       int width, int64_t d) {
  for (int a = 0; a < nq; a++) {
    float s[PLAIN_WIDTH];
    float cmax = -INFINITY;
    for (int i = 0; i < seen[a]; i++) {
      float acc = 0.0f;
      for (int64_t j = 0; j < d; j++) {
        acc += q[a][j] * kt[j * width + i];
      }
      s[i] = acc;
      cmax = acc > cmax ? acc : cmax;
    }
    const float alpha = rescale(m[a], sum[a], cmax);
    for (int i = 0; i < seen[a]; i++) {
      s[i] = expf(s[i] - *m[a]);
      *sum[a] += s[i];
    }
    for (int64_t j = 0; j < d; j++) {
      float acc = o[a][j] * alpha;
      for (int i = 0; i < seen[a]; i++) {
        acc += s[i] * vr[i][j];
      }
      o[a][j] = acc;
    }
  }
}

#define MAX_QV 8 /* query vectors a fold takes, at most */

/* Lanes n .. W - 1 of v set to `fill`. */
AVX2 static inline __m256 masked8(int n, __m256 v, float fill) {
  const __m256i keep =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(keep));
}

/*
 * AVX-512: eight query vectors by a chunk of 32 keys, each query's scores two vectors (keys 0-15,
 * 16-31), so a broadcast query element feeds two FMAs; values two slices of head_dim at a time,
 * so a broadcast weight does too.
 */
AVX512 static inline void fold_avx512(int nq, const float* const* q, float* const* o,
                                      float* const* m, float* const* sum, const int* seen,
                                      const float* kt, const float** vr, int width, int64_t d) {
  (void)width; /* 32 */
  __m512 sa[8], sb[8];
  const float* qa[8];
  for (int a = 0; a < 8; a++) {
    sa[a] = _mm512_setzero_ps();
    sb[a] = _mm512_setzero_ps();
    qa[a] = q[a < nq ? a : 0];
  }
  for (int64_t j = 0; j < d; j++) {
    const __m512 ka = _mm512_loadu_ps(kt + j * 32);
    const __m512 kb = _mm512_loadu_ps(kt + j * 32 + 16);
    for (int a = 0; a < 8; a++) {
      const __m512 b = _mm512_set1_ps(qa[a][j]);
      sa[a] = _mm512_fmadd_ps(b, ka, sa[a]);
      sb[a] = _mm512_fmadd_ps(b, kb, sb[a]);
    }
  }
  float pw[8][32];
  float alpha[8];
  int most = 0;
  const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
  for (int a = 0; a < 8; a++) {
    if (a >= nq) {
      _mm512_storeu_ps(pw[a], _mm512_setzero_ps());
      _mm512_storeu_ps(pw[a] + 16, _mm512_setzero_ps());
      alpha[a] = 0.0f;
      continue;
    }
    const int n = seen[a];
    const __mmask16 ma = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    const __mmask16 mb = n <= 16 ? (__mmask16)0 : (__mmask16)((1u << (n - 16)) - 1u);
    const __m512 xa = _mm512_mask_mov_ps(minus_inf, ma, sa[a]);
    const __m512 xb = _mm512_mask_mov_ps(minus_inf, mb, sb[a]);
    alpha[a] = rescale(m[a], sum[a], _mm512_reduce_max_ps(_mm512_max_ps(xa, xb)));
    const __m512 mv = _mm512_set1_ps(*m[a]);
    const __m512 pa = _mm512_maskz_mov_ps(ma, exp512(_mm512_sub_ps(xa, mv)));
    const __m512 pb = _mm512_maskz_mov_ps(mb, exp512(_mm512_sub_ps(xb, mv)));
    *sum[a] += _mm512_reduce_add_ps(_mm512_add_ps(pa, pb));
    _mm512_storeu_ps(pw[a], pa);
    _mm512_storeu_ps(pw[a] + 16, pb);
    most = n > most ? n : most;
  }
  const float* pp = &pw[0][0];
  int64_t j = 0;
  for (; j + 32 <= d; j += 32) {
    /* Read the weights afresh for each slice (a broadcast folded into each FMA) rather than let
     * the compiler keep 32 x 8 broadcast vectors on the stack across slices. */
    __asm__("" : "+r"(pp));
    __m512 a0[8], a1[8];
    for (int a = 0; a < 8; a++) {
      const __m512 al = _mm512_set1_ps(alpha[a]);
      a0[a] = a < nq ? _mm512_mul_ps(_mm512_loadu_ps(o[a] + j), al) : _mm512_setzero_ps();
      a1[a] = a < nq ? _mm512_mul_ps(_mm512_loadu_ps(o[a] + j + 16), al) : _mm512_setzero_ps();
    }
    for (int i = 0; i < most; i++) {
      const __m512 v0 = _mm512_loadu_ps(vr[i] + j);
      const __m512 v1 = _mm512_loadu_ps(vr[i] + j + 16);
      for (int a = 0; a < 8; a++) {
        const __m512 b = _mm512_set1_ps(pp[a * 32 + i]);
        a0[a] = _mm512_fmadd_ps(b, v0, a0[a]);
        a1[a] = _mm512_fmadd_ps(b, v1, a1[a]);
      }
    }
    for (int a = 0; a < nq; a++) {
      _mm512_storeu_ps(o[a] + j, a0[a]);
      _mm512_storeu_ps(o[a] + j + 16, a1[a]);
    }
  }
  if (j < d) { /* the last 16 of a head_dim that is an odd multiple of 16: even and odd keys */
    __asm__("" : "+r"(pp));
    __m512 a0[8], a1[8];
    for (int a = 0; a < 8; a++) {
      a0[a] = a < nq ? _mm512_mul_ps(_mm512_loadu_ps(o[a] + j), _mm512_set1_ps(alpha[a]))
                     : _mm512_setzero_ps();
      a1[a] = _mm512_setzero_ps();
    }
    int i = 0;
    for (; i + 2 <= most; i += 2) {
      const __m512 v0 = _mm512_loadu_ps(vr[i] + j);
      const __m512 v1 = _mm512_loadu_ps(vr[i + 1] + j);
      for (int a = 0; a < 8; a++) {
        a0[a] = _mm512_fmadd_ps(_mm512_set1_ps(pp[a * 32 + i]), v0, a0[a]);
        a1[a] = _mm512_fmadd_ps(_mm512_set1_ps(pp[a * 32 + i + 1]), v1, a1[a]);
      }
    }
    if (i < most) {
      const __m512 v0 = _mm512_loadu_ps(vr[i] + j);
      for (int a = 0; a < 8; a++) {
        a0[a] = _mm512_fmadd_ps(_mm512_set1_ps(pp[a * 32 + i]), v0, a0[a]);
      }
    }
    for (int a = 0; a < nq; a++) {
      _mm512_storeu_ps(o[a] + j, _mm512_add_ps(a0[a], a1[a]));
    }
  }
}

/*
 * AVX2: four query vectors by a chunk of 16 keys, each query's scores two vectors (keys 0-7,
 * 8-15), values two slices of head_dim at a time; sixteen registers hold the accumulators.
 */
AVX2 static inline void fold_avx2(int nq, const float* const* q, float* const* o, float* const* m,
                                  float* const* sum, const int* seen, const float* kt,
                                  const float** vr, int width, int64_t d) {
  (void)width; /* 16 */
  __m256 sa[4], sb[4];
  const float* qa[4];
  for (int a = 0; a < 4; a++) {
    sa[a] = _mm256_setzero_ps();
    sb[a] = _mm256_setzero_ps();
    qa[a] = q[a < nq ? a : 0];
  }
  for (int64_t j = 0; j < d; j++) {
    const __m256 ka = _mm256_loadu_ps(kt + j * 16);
    const __m256 kb = _mm256_loadu_ps(kt + j * 16 + 8);
    for (int a = 0; a < 4; a++) {
      const __m256 b = _mm256_set1_ps(qa[a][j]);
      sa[a] = _mm256_fmadd_ps(b, ka, sa[a]);
      sb[a] = _mm256_fmadd_ps(b, kb, sb[a]);
    }
  }
  float pw[4][16];
  float alpha[4];
  int most = 0;
  for (int a = 0; a < 4; a++) {
    if (a >= nq) {
      _mm256_storeu_ps(pw[a], _mm256_setzero_ps());
      _mm256_storeu_ps(pw[a] + 8, _mm256_setzero_ps());
      alpha[a] = 0.0f;
      continue;
    }
    const int n = seen[a];
    const __m256 xa = masked8(n, sa[a], -INFINITY);
    const __m256 xb = masked8(n - 8, sb[a], -INFINITY);
    alpha[a] = rescale(m[a], sum[a], hmax256(_mm256_max_ps(xa, xb)));
    const __m256 mv = _mm256_set1_ps(*m[a]);
    const __m256 pa = masked8(n, exp256(_mm256_sub_ps(xa, mv)), 0.0f);
    const __m256 pb = masked8(n - 8, exp256(_mm256_sub_ps(xb, mv)), 0.0f);
    *sum[a] += hsum256(_mm256_add_ps(pa, pb));
    _mm256_storeu_ps(pw[a], pa);
    _mm256_storeu_ps(pw[a] + 8, pb);
    most = n > most ? n : most;
  }
  const float* pp = &pw[0][0];
  int64_t j = 0;
  for (; j + 16 <= d; j += 16) {
    __asm__("" : "+r"(pp)); /* as in fold_avx512 */
    __m256 a0[4], a1[4];
    for (int a = 0; a < 4; a++) {
      const __m256 al = _mm256_set1_ps(alpha[a]);
      a0[a] = a < nq ? _mm256_mul_ps(_mm256_loadu_ps(o[a] + j), al) : _mm256_setzero_ps();
      a1[a] = a < nq ? _mm256_mul_ps(_mm256_loadu_ps(o[a] + j + 8), al) : _mm256_setzero_ps();
    }
    for (int i = 0; i < most; i++) {
      const __m256 v0 = _mm256_loadu_ps(vr[i] + j);
      const __m256 v1 = _mm256_loadu_ps(vr[i] + j + 8);
      for (int a = 0; a < 4; a++) {
        const __m256 b = _mm256_set1_ps(pp[a * 16 + i]);
        a0[a] = _mm256_fmadd_ps(b, v0, a0[a]);
        a1[a] = _mm256_fmadd_ps(b, v1, a1[a]);
      }
    }
    for (int a = 0; a < nq; a++) {
      _mm256_storeu_ps(o[a] + j, a0[a]);
      _mm256_storeu_ps(o[a] + j + 8, a1[a]);
    }
  }
  if (j < d) { /* the last 8 of a head_dim that is an odd multiple of 8: even and odd keys */
    __asm__("" : "+r"(pp));
    __m256 a0[4], a1[4];
    for (int a = 0; a < 4; a++) {
      a0[a] = a < nq ? _mm256_mul_ps(_mm256_loadu_ps(o[a] + j), _mm256_set1_ps(alpha[a]))
                     : _mm256_setzero_ps();
      a1[a] = _mm256_setzero_ps();
    }
    int i = 0;
    for (; i + 2 <= most; i += 2) {
      const __m256 v0 = _mm256_loadu_ps(vr[i] + j);
      const __m256 v1 = _mm256_loadu_ps(vr[i + 1] + j);
      for (int a = 0; a < 4; a++) {
        a0[a] = _mm256_fmadd_ps(_mm256_set1_ps(pp[a * 16 + i]), v0, a0[a]);
        a1[a] = _mm256_fmadd_ps(_mm256_set1_ps(pp[a * 16 + i + 1]), v1, a1[a]);
      }
    }
    if (i < most) {
      const __m256 v0 = _mm256_loadu_ps(vr[i] + j);
      for (int a = 0; a < 4; a++) {
        a0[a] = _mm256_fmadd_ps(_mm256_set1_ps(pp[a * 16 + i]), v0, a0[a]);
      }
    }
    for (int a = 0; a < nq; a++) {
      _mm256_storeu_ps(o[a] + j, _mm256_add_ps(a0[a], a1[a]));
    }
  }
}

/* Each thread's buffer, grown as needed and kept. */
static __thread float* scratch;
static __thread size_t scratch_floats;

static float* scratch_for(size_t need) {
  if (need > scratch_floats) {
    free(scratch);
    scratch = malloc(need * sizeof(float));
    if (scratch == NULL) {
      scratch_floats = 0;
      abort(); /* the process cannot go on without its working buffer */
    }
    scratch_floats = need;
  }
  return scratch;
}

/* One task (a tile of query rows over one kv head), per path. */
#define DEFINE_TILE(NAME, TARGET, WIDTH, TW, QN, FOLD, WIDEN, TRANSPOSE)                               \
TARGET static void NAME(void* arg, int64_t item) {                                                 \
  const Work* w = (const Work*)arg;                                                                \
  /* The tiles with the most keys (the last of a sequence) go first. */                            \
  const int64_t kvh = item % w->kv_heads;                                                          \
  const int64_t tile = w->tiles - 1 - item / w->kv_heads % w->tiles;                               \
  Tile t = {.s = item / w->kv_heads / w->tiles,                                                    \
            .kvh = kvh,                                                                            \
            .r0 = tile * w->tile,                                                                  \
            .group = w->heads / w->kv_heads,                                                       \
            .d = w->head_dim};                                                                     \
  t.rows = w->qlen - t.r0 < w->tile ? w->qlen - t.r0 : w->tile;                                   \
  t.pos = w->pos + t.s * w->qlen + t.r0;                                                           \
  t.last = -1;                                                                                     \
  for (int64_t r = 0; r < t.rows; r++) {                                                           \
    t.last = t.pos[r] > t.last ? t.pos[r] : t.last;                                                \
  }                                                                                                \
  const int width = WIDTH;                                                                         \
  const int64_t d = t.d;                                                                           \
  const int64_t states = t.rows * t.group;                                                         \
  float* buf = scratch_for((size_t)(2 * states + (3 * width + 1) * d));                            \
  float* mx = buf;                                                                                 \
  float* sum = buf + states;                                                                       \
  float* kt = sum + states;                                                                        \
  float* kbuf = kt + width * d;                                                                    \
  float* vbuf = kbuf + width * d;                                                                  \
  float* zero = vbuf + width * d;                                                                  \
  memset(zero, 0, (size_t)d * sizeof(float));                                                      \
  const int64_t stride = w->heads * d; /* between query rows */                                    \
  for (int64_t r = 0; r < t.rows; r++) {                                                           \
    if (t.pos[r] < 0) {                                                                            \
      continue;                                                                                    \
    }                                                                                              \
    float* o = w->out + out_row(w, t.s, t.r0 + r) * stride + kvh * t.group * d;                    \
    memset(o, 0, (size_t)(t.group * d) * sizeof(float));                                           \
    for (int64_t g = 0; g < t.group; g++) {                                                        \
      mx[r * t.group + g] = -INFINITY;                                                             \
      sum[r * t.group + g] = 0.0f;                                                                 \
    }                                                                                              \
  }                                                                                                \
  const float* vr[MAX_WIDTH];                                                                      \
  const float* qs[MAX_QV];                                                                         \
  float* os[MAX_QV];                                                                               \
  float* ms[MAX_QV];                                                                               \
  float* sums[MAX_QV];                                                                             \
  int seen[MAX_QV];                                                                                \
  for (int64_t l = 0; l <= t.last; l += width) {                                                   \
    const int n = t.last + 1 - l < width ? (int)(t.last + 1 - l) : width;                          \
    chunk(w, &t, l, n, width, kt, vr, kbuf, vbuf, zero, WIDEN, TRANSPOSE, TW);                         \
    int nq = 0;                                                                                    \
    for (int64_t r = 0; r < t.rows; r++) {                                                         \
      const int64_t p = t.pos[r];                                                                  \
      if (p < l) {                                                                                 \
        continue;                                                                                  \
      }                                                                                            \
      const int64_t at = query_row(w, t.s, t.r0 + r) * stride + kvh * t.group * d;                 \
      const int64_t ot = out_row(w, t.s, t.r0 + r) * stride + kvh * t.group * d;                   \
      for (int64_t g = 0; g < t.group; g++) {                                                      \
        qs[nq] = w->q + at + g * d;                                                                \
        os[nq] = w->out + ot + g * d;                                                              \
        ms[nq] = &mx[r * t.group + g];                                                             \
        sums[nq] = &sum[r * t.group + g];                                                          \
        seen[nq] = p + 1 - l < n ? (int)(p + 1 - l) : n;                                           \
        if (++nq == QN) {                                                                          \
          FOLD(nq, qs, os, ms, sums, seen, kt, vr, width, d);                                      \
          nq = 0;                                                                                  \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    if (nq > 0) {                                                                                  \
      FOLD(nq, qs, os, ms, sums, seen, kt, vr, width, d);                                          \
    }                                                                                              \
  }                                                                                                \
  for (int64_t r = 0; r < t.rows; r++) {                                                           \
    if (t.pos[r] < 0) {                                                                            \
      continue;                                                                                    \
    }                                                                                              \
    float* o = w->out + out_row(w, t.s, t.r0 + r) * stride + kvh * t.group * d;                    \
    for (int64_t g = 0; g < t.group; g++) {                                                        \
      const float inv = 1.0f / sum[r * t.group + g];                                               \
      for (int64_t j = 0; j < d; j++) {                                                            \
        o[g * d + j] *= inv;                                                                       \
      }                                                                                            \
    }                                                                                              \
  }                                                                                                \
}

DEFINE_TILE(tile_plain, , PLAIN_WIDTH, PLAIN_WIDTH, MAX_QV, fold_plain, widen_plain,
            transpose_plain)
DEFINE_TILE(tile_avx2, AVX2, 16, 8, 4, fold_avx2, widen_avx2, transpose_avx2)
DEFINE_TILE(tile_avx512, AVX512, 32, 16, 8, fold_avx512, widen_avx512, transpose_avx512)

static void run_tile(void* arg, int64_t item) {
  const Work* w = (const Work*)arg;
  switch (w->path) {
    case WITH_AVX512:
      tile_avx512(arg, item);
      break;
    case WITH_AVX2:
      tile_avx2(arg, item);
      break;
    default:
      tile_plain(arg, item);
  }
}

static int best_path = PLAIN;
static int has_avx2; /* AVX2, FMA and F16C */
static pthread_once_t path_once = PTHREAD_ONCE_INIT;

static void choose_path(void) {
  __builtin_cpu_init();
  has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
  best_path = __builtin_cpu_supports("avx512f") ? WITH_AVX512 : has_avx2 ? WITH_AVX2 : PLAIN;
}

/* The path for this head_dim: AVX-512 takes multiples of 16, AVX2 of 8, plain C any. */
static int path_for(int wanted, int64_t head_dim) {
  int path = wanted >= 0 && wanted < best_path ? wanted : best_path;
  if (path == WITH_AVX512 && head_dim % 16 != 0) {
    path = has_avx2 ? WITH_AVX2 : PLAIN;
  }
  if (path == WITH_AVX2 && head_dim % 8 != 0) {
    path = PLAIN;
  }
  return path;
}

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const LlavaPathKernel* kern = (const LlavaPathKernel*)kernel;
  TF_Status* status = TF_NewStatus();
  LlavaPagedInputs in;
  TF_Tensor* firsts = NULL;
  TF_Tensor* out = NULL;
  char* covered = NULL;
  char msg[320];

  if (!llava_paged_inputs_begin(ctx, status, OP_NAME, &in)) {
    goto done;
  }
  TF_GetInput(ctx, 5, &firsts, status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  pthread_once(&path_once, choose_path);
  TF_Tensor* q = in.q;
  TF_Tensor* kc = in.k;
  TF_Tensor* vc = in.v;
  TF_Tensor* tables = in.tables;
  TF_Tensor* positions = in.rows;
  const int pool_type = TF_TensorType(kc);
  if (TF_NumDims(q) != 3 || TF_NumDims(tables) != 2 || TF_NumDims(positions) != 2 ||
      TF_NumDims(firsts) != 1) {
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE,
               OP_NAME ": expected q [T, H, D], block_tables [S, B], positions [S, Q],"
                       " first_rows [S]");
    goto done;
  }
  const int64_t seqs = TF_Dim(positions, 0);
  const int64_t qlen = TF_Dim(positions, 1);
  const int64_t q_rows = TF_Dim(q, 0);
  const int64_t heads = TF_Dim(q, 1);
  const int64_t head_dim = TF_Dim(q, 2);
  const int64_t num_blocks = TF_Dim(kc, 0);
  const int64_t kv_heads = TF_Dim(kc, 1);
  const int64_t block_size = TF_Dim(kc, 2);
  const int64_t max_blocks = TF_Dim(tables, 1);
  if (head_dim != TF_Dim(kc, 3) || kv_heads == 0 || heads % kv_heads != 0 ||
      TF_Dim(tables, 0) != seqs || TF_Dim(firsts, 0) != seqs) {
    snprintf(msg, sizeof msg,
             OP_NAME ": shapes disagree: q [%lld, %lld, %lld], pool kv_heads %lld head_dim"
                     " %lld, block_tables rows %lld, positions [%lld, %lld], first_rows %lld",
             (long long)q_rows, (long long)heads, (long long)head_dim, (long long)kv_heads,
             (long long)TF_Dim(kc, 3), (long long)TF_Dim(tables, 0), (long long)seqs,
             (long long)qlen, (long long)TF_Dim(firsts, 0));
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
    goto done;
  }
  const int32_t* table_data = TF_TensorData(tables);
  const int32_t* pos_data = TF_TensorData(positions);
  const int32_t* first_data = TF_TensorData(firsts);
  const int64_t base = seqs > 0 ? first_data[0] : 0;
  if (base < 0 || base > q_rows) {
    snprintf(msg, sizeof msg, OP_NAME ": first_rows[0] = %lld outside [0, %lld]",
             (long long)base, (long long)q_rows);
    llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
    goto done;
  }
  double work = 0;
  for (int64_t s = 0; s < seqs; s++) {
    int64_t last = -1;
    int64_t rows = 0; /* past the chunk's last query */
    for (int64_t r = 0; r < qlen; r++) {
      const int64_t p = pos_data[s * qlen + r];
      if (p < -1 || p >= max_blocks * block_size) {
        snprintf(msg, sizeof msg, OP_NAME ": positions[%lld, %lld] = %lld outside [-1, %lld)",
                 (long long)s, (long long)r, (long long)p,
                 (long long)(max_blocks * block_size));
        llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
        goto done;
      }
      if (p >= 0) {
        rows = r + 1;
      }
      last = p > last ? p : last;
      work += (double)(p + 1);
    }
    /* A chunk's queries take rows first .. first + rows - 1: from the first chunk's first row on,
     * before the next chunk's first row, within q. */
    const int64_t first = first_data[s];
    const int64_t next = s + 1 < seqs ? first_data[s + 1] : q_rows;
    const int64_t limit = next < q_rows ? next : q_rows;
    if (rows > 0 && (first < base || first + rows > limit)) {
      snprintf(msg, sizeof msg,
               OP_NAME ": first_rows[%lld] = %lld: its %lld queries must take rows in [%lld, %lld)"
                       " of q's %lld",
               (long long)s, (long long)first, (long long)rows, (long long)base,
               (long long)limit, (long long)q_rows);
      llava_fail(ctx, status, TF_INVALID_ARGUMENT_CODE, msg);
      goto done;
    }
    if (!llava_paged_blocks_check(ctx, status, OP_NAME, table_data, s, max_blocks, last + 1,
                                  block_size, num_blocks)) {
      goto done;
    }
  }

  const int64_t out_rows = q_rows - base;
  const int64_t width = heads * head_dim;
  const int64_t out_dims[2] = {out_rows, width};
  out = TF_AllocateOutput(ctx, 0, TF_FLOAT_TYPE, out_dims, 2,
                          (size_t)(out_rows * width) * sizeof(float), status);
  if (TF_GetCode(status) != TF_OK_CODE) {
    TF_OpKernelContext_Failure(ctx, status);
    goto done;
  }
  if (out_rows == 0) {
    goto done;
  }
  /* Rows no query takes (padding between chunks, or past the last one) are zeros. */
  covered = calloc((size_t)out_rows, 1);
  if (covered == NULL) {
    llava_fail(ctx, status, TF_RESOURCE_EXHAUSTED_CODE, OP_NAME ": out of memory");
    goto done;
  }
  for (int64_t s = 0; s < seqs; s++) {
    for (int64_t r = 0; r < qlen; r++) {
      if (pos_data[s * qlen + r] >= 0) {
        covered[first_data[s] - base + r] = 1;
      }
    }
  }
  float* out_data = TF_TensorData(out);
  for (int64_t t = 0; t < out_rows; t++) {
    if (!covered[t]) {
      memset(out_data + t * width, 0, (size_t)width * sizeof(float));
    }
  }
  if (seqs * qlen == 0) {
    goto done;
  }
  Work w = {.q = TF_TensorData(q),
            .k = TF_TensorData(kc),
            .v = TF_TensorData(vc),
            .half = pool_type == TF_HALF_TYPE,
            .tables = table_data,
            .pos = pos_data,
            .first = first_data,
            .out = out_data,
            .seqs = seqs,
            .qlen = qlen,
            .heads = heads,
            .kv_heads = kv_heads,
            .head_dim = head_dim,
            .block_size = block_size,
            .max_blocks = max_blocks,
            .path = path_for(kern->path, head_dim)};
  int64_t threads = (int64_t)(work * (double)(heads * head_dim) / MIN_WORK_PER_THREAD);
  if (threads > kern->num_threads) {
    threads = kern->num_threads;
  }
  w.tile = TILE_MAX;
  while (w.tile > TILE_MIN && seqs * ((qlen + w.tile - 1) / w.tile) * kv_heads < 4 * threads) {
    w.tile /= 2;
  }
  w.tiles = (qlen + w.tile - 1) / w.tile;
  llava_parallel_for(seqs * w.tiles * kv_heads, threads < 1 ? 1 : threads, run_tile, &w);

done:
  free(covered);
  llava_paged_inputs_end(&in);
  TF_DeleteTensor(firsts);
  TF_DeleteTensor(out);
  TF_DeleteStatus(status);
}

__attribute__((constructor)) static void register_op(void) {
  static const char* const inputs[] = {"q: float",           "k_cache: resource",
                                       "v_cache: resource",  "block_tables: int32",
                                       "positions: int32",   "first_rows: int32"};
  static const char* const outputs[] = {"out: float"};
  static const char* const attrs[] = {"path: int = -1"};
  const LlavaOpSpec spec = {.name = OP_NAME,
                            .inputs = inputs,
                            .n_inputs = 6,
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
