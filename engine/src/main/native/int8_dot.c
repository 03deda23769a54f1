/*
 * Integer dot products of int8 activations with panels of small-integer weights; see int8_dot.h.
 *
 * The paths, chosen at run time:
 *   AVX-512 VNNI  vpdpbusd on zmm: 64 weight bytes (16 columns by 4 inputs) times 4 activation
 *                 bytes broadcast, summed into 16 int32 lanes, one instruction (one side unsigned:
 *                 the activations plus 128 against signed weights, see int8_dot.h)
 *   AVX-VNNI      the same on ymm (8 columns), on CPUs with AVX-VNNI and no AVX-512
 *   AVX2          vpmaddubsw then vpmaddwd: unsigned x signed bytes into int16 pairs, then int32.
 *                 Signed weights go through the sign trick (|x| times w with x's sign) so that no
 *                 int16 pair sum can saturate (2 * 127 * 127 < 32767); unsigned weights (int4,
 *                 0..15) are multiplied directly (2 * 15 * 127), a block's eight groups summed in
 *                 int16 before one vpmaddwd
 *   plain         the same integer sums in C
 * Every path computes the same int32 sums; only the float32 scaling after each block differs in
 * rounding (fused multiply-adds).
 */
#include "int8_dot.h"

#include "half.h"
#include "parallel.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QK LLAVA_DOT_QK
#define COLS LLAVA_DOT_COLUMNS
#define BB LLAVA_DOT_BLOCK_BYTES

#define AVX2 __attribute__((target("avx2,fma")))
#define AVXVNNI __attribute__((target("avx2,fma,avxvnni")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Bit p set where this CPU runs path p. AVX-512 VNNI does not imply AVX-VNNI (Zen 4 and Ice Lake
 * have the first only), so the paths are not nested and each is checked on its own. */
static unsigned runnable = 1u << LLAVA_INT8_PLAIN;
static pthread_once_t runnable_once = PTHREAD_ONCE_INIT;

static void find_runnable(void) {
  __builtin_cpu_init();
  const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) {
    runnable |= 1u << LLAVA_INT8_AVX2;
  }
  if (avx2 && __builtin_cpu_supports("avxvnni")) {
    runnable |= 1u << LLAVA_INT8_AVXVNNI;
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vnni")) {
    runnable |= 1u << LLAVA_INT8_AVX512;
  }
}

/* The highest path at most cap that this CPU runs. */
static int highest_runnable(int cap) {
  for (int p = cap; p > LLAVA_INT8_PLAIN; p--) {
    if (runnable & (1u << p)) {
      return p;
    }
  }
  return LLAVA_INT8_PLAIN;
}

int llava_int8_best_path(void) {
  pthread_once(&runnable_once, find_runnable);
  return highest_runnable(LLAVA_INT8_AVX512);
}

int llava_int8_path(int limit) {
  const int b = llava_int8_best_path();
  return limit < 0 || limit >= b ? b : highest_runnable(limit);
}

int llava_dot_row_group(int path) {
  switch (path) {
    case LLAVA_INT8_AVX512:
      return LLAVA_DOT_MAX_ROWS;
    case LLAVA_INT8_AVXVNNI:
      return 3;
    case LLAVA_INT8_AVX2:
      return 4;
    default:
      return 4;
  }
}

/* ---- Quantizing the activations ---- */

/* One block of n <= 32 inputs, scalar; rounds half to even as the vector path's cvtps does. */
static void quant_block_plain(const float* x, int64_t n, int8_t* q, float* s, int32_t* sum) {
  float amax = 0;
  int nan = 0;
  for (int64_t i = 0; i < n; i++) {
    amax = fmaxf(amax, fabsf(x[i]));
    nan |= isnan(x[i]);
  }
  const float d = nan ? NAN : amax / 127.0f; /* a NaN input makes the block's products NaN */
  const float id = d != 0 && !nan ? 1.0f / d : 0.0f;
  int32_t total = 0;
  for (int64_t i = 0; i < QK; i++) {
    const int v = i < n ? (int)nearbyintf(x[i] * id) : 0;
    q[i] = (int8_t)v;
    total += v;
  }
  *s = d;
  *sum = total;
}

/* The int4 order of each 8 quantized inputs (int8_dot.h): 0, 2, 4, 6, 1, 3, 5, 7. */
static const uint8_t int4_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

/* A block's 32 quantized inputs in the int4 order. */
AVX2 static inline __m256i to_int4_order(__m256i q) {
  return _mm256_shuffle_epi8(q, _mm256_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13,
                                                 15, 0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11,
                                                 13, 15));
}

/* One full block of 32 inputs with AVX2, in input order or (int4) the int4 order. */
AVX2 static void quant_block_avx2(const float* x, int int4, int8_t* q, float* s, int32_t* sum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < 4; i++) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const float amax = _mm_cvtss_f32(h);
  __m256 unordered = _mm256_setzero_ps();
  for (int i = 0; i < 4; i++) {
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v[i], v[i], _CMP_UNORD_Q));
  }
  /* a NaN input makes the block's products NaN, as a float32 product would */
  const float d = _mm256_movemask_ps(unordered) ? NAN : amax / 127.0f;
  const float id = d != 0 && !isnan(d) ? 1.0f / d : 0.0f;
  const __m256 idv = _mm256_set1_ps(id);
  __m256i n[4];
  for (int i = 0; i < 4; i++) {
    n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], idv));
  }
  const __m256i total = _mm256_add_epi32(_mm256_add_epi32(n[0], n[1]), _mm256_add_epi32(n[2], n[3]));
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
  const __m256i p01 = _mm256_packs_epi32(n[0], n[1]);
  const __m256i p23 = _mm256_packs_epi32(n[2], n[3]);
  const __m256i b = _mm256_packs_epi16(p01, p23);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i out = _mm256_permutevar8x32_epi32(b, order);
  _mm256_storeu_si256((__m256i*)q, int4 ? to_int4_order(out) : out);
  *s = d;
  *sum = _mm_cvtsi128_si32(t);
}

/* One full block of 32 inputs with AVX-512: the same integers, scale and sum as with AVX2 (the
 * saturating narrowing gives what the two packs give). */
__attribute__((target("avx512f,avx512bw,avx2,fma"))) static void quant_block_avx512(
    const float* x, int int4, int8_t* q, float* s, int32_t* sum) {
  const __m512 v0 = _mm512_loadu_ps(x);
  const __m512 v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const int nan = (_mm512_cmp_ps_mask(v0, v0, _CMP_UNORD_Q) |
                   _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q)) != 0;
  const float d = nan ? NAN : amax / 127.0f;
  const float id = d != 0 && !isnan(d) ? 1.0f / d : 0.0f;
  const __m512 idv = _mm512_set1_ps(id);
  const __m512i n0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, idv));
  const __m512i n1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, idv));
  __m256i out = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtsepi32_epi8(n0)),
                                        _mm512_cvtsepi32_epi8(n1), 1);
  _mm256_storeu_si256((__m256i*)q, int4 ? to_int4_order(out) : out);
  *s = d;
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(n0, n1));
}

/* Grows a thread's scratch buffer to at least bytes (64-byte aligned); NULL when memory runs out. */
static void* scratch(void** buf, size_t* have, size_t bytes) {
  if (*have < bytes) {
    free(*buf);
    *have = 0;
    *buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (*buf == NULL) {
      return NULL;
    }
    *have = bytes;
  }
  return *buf;
}

typedef struct {
  const float* x;
  int64_t k;
  const LlavaQuantRows* out;
  int path; /* an integer path: its vectors quantize the full blocks */
  int int4; /* the int4 order */
} QuantJob;

#define QUANT_ROWS 8 /* rows per task */

static void quant_task(void* arg, int64_t task) {
  const QuantJob* job = (const QuantJob*)arg;
  const LlavaQuantRows* out = job->out;
  const int64_t kb = out->kb;
  const int64_t end = (task + 1) * QUANT_ROWS < out->m ? (task + 1) * QUANT_ROWS : out->m;
  for (int64_t r = task * QUANT_ROWS; r < end; r++) {
    for (int64_t j = 0; j < kb; j++) {
      const float* xb = job->x + r * job->k + j * QK;
      const int64_t n = job->k - j * QK < QK ? job->k - j * QK : QK;
      int8_t* q = out->q + (r * kb + j) * QK;
      if (job->path == LLAVA_INT8_AVX512 && n == QK) {
        quant_block_avx512(xb, job->int4, q, out->s + r * kb + j, out->sum + r * kb + j);
      } else if (job->path >= LLAVA_INT8_AVX2 && n == QK) {
        quant_block_avx2(xb, job->int4, q, out->s + r * kb + j, out->sum + r * kb + j);
      } else {
        quant_block_plain(xb, n, q, out->s + r * kb + j, out->sum + r * kb + j);
        if (job->int4) {
          for (int e = 0; e < QK; e += 8) {
            int8_t v[8];
            for (int i = 0; i < 8; i++) {
              v[i] = q[e + int4_order[i]];
            }
            memcpy(q + e, v, 8);
          }
        }
      }
    }
  }
}

int llava_quant_rows(int path, const float* x, int64_t m, int64_t k, int int4, int threads,
                     LlavaQuantRows* out) {
  static __thread void* buf = NULL;
  static __thread size_t have = 0;
  const int64_t kb = (k + QK - 1) / QK;
  const size_t q_bytes = (size_t)(m * kb * QK + 63) / 64 * 64;
  const size_t s_bytes = (size_t)(m * kb * sizeof(float) + 63) / 64 * 64;
  uint8_t* mem = scratch(&buf, &have, q_bytes + 2 * s_bytes + 64);
  if (mem == NULL) {
    return 0;
  }
  out->m = m;
  out->kb = kb;
  out->q = (int8_t*)mem;
  out->s = (float*)(mem + q_bytes);
  out->sum = (int32_t*)(mem + q_bytes + s_bytes);
  QuantJob job = {.x = x,
                  .k = k,
                  .out = out,
                  .path = llava_int8_path(path),
                  .int4 = int4};
  llava_parallel_for((m + QUANT_ROWS - 1) / QUANT_ROWS, threads, quant_task, &job);
  return 1;
}

/* ---- Panels ---- */

int llava_dot_panel_get(LlavaDotPanel* p, int64_t kb, int with_min) {
  static __thread void* buf = NULL;
  static __thread size_t have = 0;
  const size_t blocks = (size_t)(kb > 0 ? kb : 1);
  const size_t floats = blocks * COLS * sizeof(float);
  uint8_t* mem = scratch(&buf, &have, blocks * BB + 2 * floats);
  if (mem == NULL) {
    return 0;
  }
  p->kb = kb;
  p->path = LLAVA_INT8_PLAIN;
  p->w = mem;
  p->scale = (float*)(mem + blocks * BB);
  p->min = with_min ? (float*)(mem + blocks * BB + floats) : NULL;
  p->bias = with_min ? NULL : (int32_t*)(mem + blocks * BB + floats);
  return 1;
}

/* The byte permutation of the 4 x 16 transpose: output byte 4c + t is input byte 16t + c. */
static uint8_t transpose_index[64];
static int has_vbmi;
static pthread_once_t vbmi_once = PTHREAD_ONCE_INIT;

static void choose_put(void) {
  __builtin_cpu_init();
  has_vbmi = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vbmi");
  for (int c = 0; c < 16; c++) {
    for (int t = 0; t < 4; t++) {
      transpose_index[4 * c + t] = (uint8_t)(16 * t + c);
    }
  }
}

/* The 8 groups of a block, 64 contiguous bytes each, one vpermb apiece. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void put_block_vbmi(
    uint8_t* dst, const uint8_t* src) {
  const __m512i index = _mm512_loadu_si512((const void*)transpose_index);
  for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {
    _mm512_storeu_si512((void*)(dst + g * COLS * 4),
                        _mm512_permutexvar_epi8(index, _mm512_loadu_si512((const void*)(src + 64 * g))));
  }
}

void llava_dot_panel_put_block(LlavaDotPanel* p, int64_t j, int col0, const uint8_t* src) {
  pthread_once(&vbmi_once, choose_put);
  uint8_t* dst = p->w + j * BB + (int64_t)col0 * 4;
  if (has_vbmi && p->path == LLAVA_INT8_AVX512) {
    put_block_vbmi(dst, src);
    return;
  }
  for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {
    llava_dot_panel_put(p, j, g, col0, src + 64 * g, 16);
  }
}

void llava_dot_panel_put(LlavaDotPanel* p, int64_t j, int group, int col0, const uint8_t* src,
                         int64_t src_stride) {
  /* Four inputs' 16 columns to 16 columns' four inputs: a 4 x 16 byte transpose. */
  const __m128i a = _mm_loadu_si128((const __m128i*)src);
  const __m128i b = _mm_loadu_si128((const __m128i*)(src + src_stride));
  const __m128i c = _mm_loadu_si128((const __m128i*)(src + 2 * src_stride));
  const __m128i d = _mm_loadu_si128((const __m128i*)(src + 3 * src_stride));
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b);
  const __m128i ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d);
  const __m128i cd_hi = _mm_unpackhi_epi8(c, d);
  uint8_t* dst = p->w + j * BB + (int64_t)group * COLS * 4 + (int64_t)col0 * 4;
  _mm_storeu_si128((__m128i*)dst, _mm_unpacklo_epi16(ab_lo, cd_lo));
  _mm_storeu_si128((__m128i*)(dst + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
  _mm_storeu_si128((__m128i*)(dst + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
  _mm_storeu_si128((__m128i*)(dst + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
}

/* A Q4 block's 16 float16 steps or minimums as float32: F16C where the CPU has it, else bit by
 * bit; both exact. */
__attribute__((target("avx2,f16c"))) static void widen16_f16c(const uint8_t* h, float* f) {
  _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)h)));
  _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(h + 16))));
}

static void widen16(int f16c, const uint8_t* h, float* f) {
  if (f16c) {
    widen16_f16c(h, f);
    return;
  }
  for (int c = 0; c < 16; c++) {
    uint16_t v;
    memcpy(&v, h + 2 * c, 2);
    f[c] = llava_from_f16(v);
  }
}

/* The Q4 block's values in the int4 order with one vpermb and two masks per 64 bytes: bytes
 * 64t .. 64t + 63 are pairs 4t .. 4t + 3, whose low halves make group 2t and high ones 2t + 1. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void put_q4_vbmi(
    LlavaDotPanel* p, int64_t j, int col0, const uint8_t* block) {
  const __m512i index = _mm512_loadu_si512((const void*)transpose_index);
  const __m512i low = _mm512_set1_epi8(0x0F);
  _mm512_storeu_ps(p->scale + j * COLS + col0,
                   _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)block)));
  _mm512_storeu_ps(p->min + j * COLS + col0,
                   _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(block + 32))));
  uint8_t* dst = p->w + j * BB + (int64_t)col0 * 4;
  for (int t = 0; t < 4; t++) {
    const __m512i v =
        _mm512_permutexvar_epi8(index, _mm512_loadu_si512((const void*)(block + 64 + 64 * t)));
    _mm512_storeu_si512((void*)(dst + 2 * t * COLS * 4), _mm512_and_si512(v, low));
    _mm512_storeu_si512((void*)(dst + (2 * t + 1) * COLS * 4),
                        _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
  }
}

void llava_dot_panel_put_q4(LlavaDotPanel* p, int64_t j, int col0, const uint8_t* block) {
  pthread_once(&vbmi_once, choose_put);
  if (has_vbmi && p->path == LLAVA_INT8_AVX512) {
    put_q4_vbmi(p, j, col0, block);
    return;
  }
  const int f16c = __builtin_cpu_supports("f16c");
  widen16(f16c, block, p->scale + j * COLS + col0);
  widen16(f16c, block + 32, p->min + j * COLS + col0);
  /* Pairs 4t .. 4t + 3 transposed as llava_dot_panel_put does (SSE2), then their low halves are
   * group 2t and their high halves group 2t + 1. */
  const __m128i low = _mm_set1_epi8(0x0F);
  uint8_t* dst = p->w + j * BB + (int64_t)col0 * 4;
  for (int t = 0; t < 4; t++) {
    const uint8_t* src = block + 64 + 64 * t;
    const __m128i a = _mm_loadu_si128((const __m128i*)src);
    const __m128i b = _mm_loadu_si128((const __m128i*)(src + 16));
    const __m128i c = _mm_loadu_si128((const __m128i*)(src + 32));
    const __m128i d = _mm_loadu_si128((const __m128i*)(src + 48));
    const __m128i ab_lo = _mm_unpacklo_epi8(a, b);
    const __m128i ab_hi = _mm_unpackhi_epi8(a, b);
    const __m128i cd_lo = _mm_unpacklo_epi8(c, d);
    const __m128i cd_hi = _mm_unpackhi_epi8(c, d);
    const __m128i cols[4] = {_mm_unpacklo_epi16(ab_lo, cd_lo), _mm_unpackhi_epi16(ab_lo, cd_lo),
                             _mm_unpacklo_epi16(ab_hi, cd_hi), _mm_unpackhi_epi16(ab_hi, cd_hi)};
    uint8_t* lo = dst + 2 * t * COLS * 4;
    uint8_t* hi = dst + (2 * t + 1) * COLS * 4;
    for (int q = 0; q < 4; q++) {
      _mm_storeu_si128((__m128i*)(lo + 16 * q), _mm_and_si128(cols[q], low));
      _mm_storeu_si128((__m128i*)(hi + 16 * q), _mm_and_si128(_mm_srli_epi16(cols[q], 4), low));
    }
  }
}

/* The bias of every block of a signed panel: -128 times each column's sum, with vpdpbusd. */
AVX512 static void bias_avx512(LlavaDotPanel* p) {
  const __m512i u128 = _mm512_set1_epi8((char)0x80);
  for (int64_t j = 0; j < p->kb; j++) {
    for (int b = 0; b < 4; b++) {
      __m512i sum = _mm512_setzero_si512();
      for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {
        sum = _mm512_dpbusd_epi32(
            sum, u128, _mm512_loadu_si512((const void*)(p->w + j * BB + g * COLS * 4 + b * 64)));
      }
      _mm512_storeu_si512(p->bias + j * COLS + 16 * b, _mm512_sub_epi32(_mm512_setzero_si512(), sum));
    }
  }
}

AVXVNNI static void bias_avxvnni(LlavaDotPanel* p) {
  const __m256i u128 = _mm256_set1_epi8((char)0x80);
  for (int64_t j = 0; j < p->kb; j++) {
    for (int b = 0; b < 8; b++) {
      __m256i sum = _mm256_setzero_si256();
      for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {
        sum = _mm256_dpbusd_avx_epi32(
            sum, u128, _mm256_loadu_si256((const __m256i*)(p->w + j * BB + g * COLS * 4 + b * 32)));
      }
      _mm256_storeu_si256((__m256i*)(p->bias + j * COLS + 8 * b),
                          _mm256_sub_epi32(_mm256_setzero_si256(), sum));
    }
  }
}

void llava_dot_panel_finish(int path, LlavaDotPanel* p) {
  if (p->bias == NULL) {
    return;
  }
  if (path == LLAVA_INT8_AVX512) {
    bias_avx512(p);
  } else if (path == LLAVA_INT8_AVXVNNI) {
    bias_avxvnni(p);
  } /* the AVX2 and plain paths multiply signed bytes directly and need no bias */
}

/* ---- Plain C ---- */

static void plain_rows(const LlavaDotPanel* p, const LlavaQuantRows* x, int64_t row, int rows,
                       float* c) {
  const int is_signed = p->min == NULL;
  memset(c, 0, sizeof(float) * (size_t)rows * COLS);
  for (int64_t j = 0; j < p->kb; j++) {
    const uint8_t* wb = p->w + j * BB;
    for (int r = 0; r < rows; r++) {
      const int8_t* xq = x->q + ((row + r) * x->kb + j) * QK;
      const float xs = x->s[(row + r) * x->kb + j];
      const int32_t sq = x->sum[(row + r) * x->kb + j];
      for (int col = 0; col < COLS; col++) {
        int32_t isum = 0;
        for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {
          const uint8_t* w4 = wb + (g * COLS + col) * 4;
          for (int t = 0; t < 4; t++) {
            const int32_t wv = is_signed ? (int32_t)(int8_t)w4[t] : (int32_t)w4[t];
            isum += wv * xq[4 * g + t];
          }
        }
        float v = p->scale[j * COLS + col] * (float)isum;
        if (!is_signed) {
          v += p->min[j * COLS + col] * (float)sq;
        }
        c[r * COLS + col] += xs * v;
      }
    }
  }
}

/* Four activation bytes as one int32, for broadcasting; plus 128 each with flip 0x80808080. */
static inline int32_t four(const int8_t* q, uint32_t flip) {
  uint32_t v;
  memcpy(&v, q, 4);
  return (int32_t)(v ^ flip);
}

/* ---- AVX-512 VNNI: 64 columns by up to 6 rows, in two passes of 32 ---- */

/*
 * NAME_R: R rows; SIGNED 1 for signed weights (no minimum). Each pass takes 32 of the panel's 64
 * columns: the R x 2 int32 sums of a block stay in registers through its 8 groups (unrolled, so
 * that no sum is copied between registers), the R x 2 float32 sums through all blocks, beside two
 * weight vectors and the activations broadcast from memory (flipped by 128 for signed weights): 27
 * of the 32 zmm registers at 6 rows, where four rows by all 64 columns spilled. Signed weights
 * take the activations plus 128 as the unsigned side and start each block's sums at the panel's
 * bias; unsigned ones add the block's minimum times the activations' sum.
 */
#define DEFINE_AVX512_HALVES(NAME, SIGNED, R)                                                     \
  AVX512 static void NAME##_##R(const LlavaDotPanel* p, const LlavaQuantRows* x, int64_t row,     \
                                float* c) {                                                       \
    const int is_signed = SIGNED;                                                                 \
    const __m512i flipv = _mm512_set1_epi32(is_signed ? (int)0x80808080u : 0);                    \
    for (int h = 0; h < 2; h++) {                                                                 \
      __m512 acc[R][2];                                                                           \
      for (int r = 0; r < R; r++) {                                                               \
        acc[r][0] = _mm512_setzero_ps();                                                          \
        acc[r][1] = _mm512_setzero_ps();                                                          \
      }                                                                                           \
      for (int64_t j = 0; j < p->kb; j++) {                                                       \
        const uint8_t* wb = p->w + j * BB + h * 128;                                              \
        const int8_t* xq[R];                                                                      \
        __m512i is[R][2];                                                                         \
        for (int b = 0; b < 2; b++) {                                                             \
          const __m512i start =                                                                   \
              is_signed ? _mm512_loadu_si512(p->bias + j * COLS + 32 * h + 16 * b)                \
                        : _mm512_setzero_si512();                                                 \
          for (int r = 0; r < R; r++) {                                                           \
            is[r][b] = start;                                                                     \
          }                                                                                       \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          xq[r] = x->q + ((row + r) * x->kb + j) * QK;                                            \
        }                                                                                         \
        _Pragma("GCC unroll 8") for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {                      \
          const __m512i w0 = _mm512_loadu_si512((const void*)(wb + g * COLS * 4));                \
          const __m512i w1 = _mm512_loadu_si512((const void*)(wb + g * COLS * 4 + 64));           \
          for (int r = 0; r < R; r++) {                                                           \
            const __m512i xb =                                                                    \
                _mm512_xor_si512(_mm512_set1_epi32(four(xq[r] + 4 * g, 0)), flipv);               \
            is[r][0] = is_signed ? _mm512_dpbusd_epi32(is[r][0], xb, w0)                          \
                                 : _mm512_dpbusd_epi32(is[r][0], w0, xb);                         \
            is[r][1] = is_signed ? _mm512_dpbusd_epi32(is[r][1], xb, w1)                          \
                                 : _mm512_dpbusd_epi32(is[r][1], w1, xb);                         \
          }                                                                                       \
        }                                                                                         \
        const float* scale = p->scale + j * COLS + 32 * h;                                        \
        for (int r = 0; r < R; r++) {                                                             \
          const __m512 xs = _mm512_set1_ps(x->s[(row + r) * x->kb + j]);                          \
          for (int b = 0; b < 2; b++) {                                                           \
            __m512 v =                                                                            \
                _mm512_mul_ps(_mm512_cvtepi32_ps(is[r][b]), _mm512_loadu_ps(scale + 16 * b));     \
            if (!is_signed) {                                                                     \
              const __m512 sq = _mm512_set1_ps((float)x->sum[(row + r) * x->kb + j]);             \
              v = _mm512_fmadd_ps(_mm512_loadu_ps(p->min + j * COLS + 32 * h + 16 * b), sq, v);   \
            }                                                                                     \
            acc[r][b] = _mm512_fmadd_ps(v, xs, acc[r][b]);                                        \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int r = 0; r < R; r++) {                                                               \
        _mm512_storeu_ps(c + r * COLS + 32 * h, acc[r][0]);                                       \
        _mm512_storeu_ps(c + r * COLS + 32 * h + 16, acc[r][1]);                                  \
      }                                                                                           \
    }                                                                                             \
  }

/* One kernel for each row count, 1 to LLAVA_DOT_MAX_ROWS. */
#define DEFINE_AVX512_ROWS(NAME, SIGNED) \
  DEFINE_AVX512_HALVES(NAME, SIGNED, 1)  \
  DEFINE_AVX512_HALVES(NAME, SIGNED, 2)  \
  DEFINE_AVX512_HALVES(NAME, SIGNED, 3)  \
  DEFINE_AVX512_HALVES(NAME, SIGNED, 4)  \
  DEFINE_AVX512_HALVES(NAME, SIGNED, 5)  \
  DEFINE_AVX512_HALVES(NAME, SIGNED, 6)

DEFINE_AVX512_ROWS(avx512_signed, 1)
DEFINE_AVX512_ROWS(avx512_unsigned, 0)

/* ---- ymm paths: 32 columns (four ymm) at a time by up to R rows ---- */

/* One group's products of a row's four activation bytes xb with weights wv, added to acc: VNNI
 * with signed weights (xb holds the activations plus 128) and VNNI with unsigned ones. */
AVXVNNI static inline __m256i dot_vnni_signed(__m256i acc, __m256i wv, __m256i xb) {
  return _mm256_dpbusd_avx_epi32(acc, xb, wv);
}

AVXVNNI static inline __m256i dot_vnni_unsigned(__m256i acc, __m256i wv, __m256i xb) {
  return _mm256_dpbusd_avx_epi32(acc, wv, xb);
}

/* NAME_R: R rows; FLIP 0x80808080 and BIAS 1 where the sums start at the panel's bias. */
#define DEFINE_YMM(NAME, TARGET, DOT, FLIP, BIAS, R)                                              \
  TARGET static void NAME##_##R(const LlavaDotPanel* p, const LlavaQuantRows* x, int64_t row,     \
                                float* c) {                                                       \
    for (int r = 0; r < R; r++) {                                                                 \
      memset(c + r * COLS, 0, sizeof(float) * COLS);                                              \
    }                                                                                             \
    for (int64_t j = 0; j < p->kb; j++) {                                                         \
      const uint8_t* wb = p->w + j * BB;                                                          \
      const int8_t* xq[R];                                                                        \
      for (int r = 0; r < R; r++) {                                                               \
        xq[r] = x->q + ((row + r) * x->kb + j) * QK;                                              \
      }                                                                                           \
      for (int half = 0; half < 2; half++) {                                                      \
        __m256i is[R][4];                                                                         \
        for (int b = 0; b < 4; b++) {                                                             \
          const __m256i start =                                                                   \
              BIAS ? _mm256_loadu_si256((const __m256i*)(p->bias + j * COLS + half * 32 + 8 * b)) \
                   : _mm256_setzero_si256();                                                      \
          for (int r = 0; r < R; r++) {                                                           \
            is[r][b] = start;                                                                     \
          }                                                                                       \
        }                                                                                         \
        for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {                                              \
          __m256i xb[R];                                                                          \
          for (int r = 0; r < R; r++) {                                                           \
            xb[r] = _mm256_set1_epi32(four(xq[r] + 4 * g, FLIP));                                 \
          }                                                                                       \
          for (int b = 0; b < 4; b++) {                                                           \
            const __m256i wv = _mm256_loadu_si256(                                                \
                (const __m256i*)(wb + g * COLS * 4 + half * 128 + b * 32));                       \
            for (int r = 0; r < R; r++) {                                                         \
              is[r][b] = DOT(is[r][b], wv, xb[r]);                                                \
            }                                                                                     \
          }                                                                                       \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          const __m256 xs = _mm256_set1_ps(x->s[(row + r) * x->kb + j]);                          \
          const __m256 sq = _mm256_set1_ps((float)x->sum[(row + r) * x->kb + j]);                 \
          for (int b = 0; b < 4; b++) {                                                           \
            const int col = half * 32 + 8 * b;                                                    \
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(is[r][b]),                                \
                                     _mm256_loadu_ps(p->scale + j * COLS + col));                 \
            if (p->min != NULL) {                                                                 \
              v = _mm256_fmadd_ps(_mm256_loadu_ps(p->min + j * COLS + col), sq, v);               \
            }                                                                                     \
            float* out = c + r * COLS + col;                                                      \
            _mm256_storeu_ps(out, _mm256_fmadd_ps(v, xs, _mm256_loadu_ps(out)));                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_YMM(vnni_signed, AVXVNNI, dot_vnni_signed, 0x80808080u, 1, 1)
DEFINE_YMM(vnni_signed, AVXVNNI, dot_vnni_signed, 0x80808080u, 1, 2)
DEFINE_YMM(vnni_signed, AVXVNNI, dot_vnni_signed, 0x80808080u, 1, 3)
DEFINE_YMM(vnni_unsigned, AVXVNNI, dot_vnni_unsigned, 0, 0, 1)
DEFINE_YMM(vnni_unsigned, AVXVNNI, dot_vnni_unsigned, 0, 0, 2)
DEFINE_YMM(vnni_unsigned, AVXVNNI, dot_vnni_unsigned, 0, 0, 3)

/*
 * AVX2, int8 or int4 weights on panels. NAME_R: R rows by NB ymm (8 columns each) a pass, the
 * float32 sums kept in c. Both keep every sum in its register and give the same int32 sums and
 * float32 steps as the other paths, so the same bits.
 * int8 (signed): vpmaddubsw multiplies unsigned by signed bytes, so each product is taken as |a|
 * times b with b carrying the sign of a times its own (vpsignb), a being whichever side has fewer
 * vectors a group (the R rows' activations or the NB weight vectors), so that fewer vpabsb are
 * spent. A pair's int16 sum is at most 2 * 127 * 127, so each group's pairs go to int32 at once
 * (vpmaddwd by ones).
 * int4 (unsigned, 0..15): a group's vpmaddubsw gives each column two int16 sums of at most
 * 2 * 15 * 127 = 3810, so the 8 groups of a block add up in int16 (at most 30480) and one vpmaddwd
 * a block turns them into the column's int32 sum, where taking one a group would spend about
 * twice the multiplies.
 */
#define DEFINE_AVX2_PANEL(NAME, INT4, R, NB)                                                      \
  AVX2 static void NAME##_##R(const LlavaDotPanel* p, const LlavaQuantRows* x, int64_t row,       \
                              float* c) {                                                         \
    const __m256i ones = _mm256_set1_epi16(1);                                                    \
    const uint8_t* const w = p->w;                                                                \
    const float* const scale = p->scale;                                                          \
    const float* const mins = p->min;                                                             \
    const int64_t kb = p->kb;                                                                     \
    const int8_t* q[R];                                                                           \
    const float* s[R];                                                                            \
    const int32_t* sum[R];                                                                        \
    for (int r = 0; r < R; r++) {                                                                 \
      memset(c + r * COLS, 0, sizeof(float) * COLS);                                              \
      q[r] = x->q + (row + r) * x->kb * QK;                                                       \
      s[r] = x->s + (row + r) * x->kb;                                                            \
      sum[r] = INT4 ? x->sum + (row + r) * x->kb : NULL;                                          \
    }                                                                                             \
    for (int col0 = 0; col0 < COLS; col0 += 8 * NB) {                                             \
      for (int64_t j = 0; j < kb; j++) {                                                          \
        const uint8_t* wb = w + j * BB + col0 * 4;                                                \
        __m256i is[R][NB];                                                                        \
        for (int r = 0; r < R; r++) {                                                             \
          for (int b = 0; b < NB; b++) {                                                          \
            is[r][b] = _mm256_setzero_si256();                                                    \
          }                                                                                       \
        }                                                                                         \
        _Pragma("GCC unroll 8") for (int g = 0; g < LLAVA_DOT_GROUPS; g++) {                      \
          __m256i xb[R], ax[R];                                                                   \
          for (int r = 0; r < R; r++) {                                                           \
            xb[r] = _mm256_set1_epi32(four(q[r] + j * QK + 4 * g, 0));                            \
            ax[r] = !INT4 && R < NB ? _mm256_abs_epi8(xb[r]) : xb[r];                             \
          }                                                                                       \
          for (int b = 0; b < NB; b++) {                                                          \
            const __m256i wv = _mm256_loadu_si256((const __m256i*)(wb + g * COLS * 4 + b * 32));  \
            const __m256i aw = INT4 || R < NB ? wv : _mm256_abs_epi8(wv);                         \
            for (int r = 0; r < R; r++) {                                                         \
              if (INT4) {                                                                         \
                is[r][b] = _mm256_add_epi16(is[r][b], _mm256_maddubs_epi16(wv, xb[r]));           \
              } else {                                                                            \
                const __m256i pairs =                                                             \
                    R < NB ? _mm256_maddubs_epi16(ax[r], _mm256_sign_epi8(wv, xb[r]))             \
                           : _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xb[r], wv));               \
                is[r][b] = _mm256_add_epi32(is[r][b], _mm256_madd_epi16(pairs, ones));            \
              }                                                                                   \
              /* kept in its register: GCC would otherwise regroup the sums and spill them */     \
              __asm__("" : "+x"(is[r][b]));                                                       \
            }                                                                                     \
          }                                                                                       \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          const __m256 xs = _mm256_set1_ps(s[r][j]);                                              \
          const __m256 sq = INT4 ? _mm256_set1_ps((float)sum[r][j]) : _mm256_setzero_ps();        \
          for (int b = 0; b < NB; b++) {                                                          \
            const int col = col0 + 8 * b;                                                         \
            const __m256i i32 = INT4 ? _mm256_madd_epi16(is[r][b], ones) : is[r][b];              \
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(i32),                                     \
                                     _mm256_loadu_ps(scale + j * COLS + col));                    \
            if (INT4) {                                                                           \
              v = _mm256_fmadd_ps(_mm256_loadu_ps(mins + j * COLS + col), sq, v);                 \
            }                                                                                     \
            float* out = c + r * COLS + col;                                                      \
            _mm256_storeu_ps(out, _mm256_fmadd_ps(v, xs, _mm256_loadu_ps(out)));                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_AVX2_PANEL(avx2_int8, 0, 1, 4)
DEFINE_AVX2_PANEL(avx2_int8, 0, 2, 4)
DEFINE_AVX2_PANEL(avx2_int8, 0, 3, 2)
DEFINE_AVX2_PANEL(avx2_int8, 0, 4, 2)
DEFINE_AVX2_PANEL(avx2_int4, 1, 1, 4)
DEFINE_AVX2_PANEL(avx2_int4, 1, 2, 4)
DEFINE_AVX2_PANEL(avx2_int4, 1, 3, 2)
DEFINE_AVX2_PANEL(avx2_int4, 1, 4, 2)

typedef void (*RowsKernel)(const LlavaDotPanel*, const LlavaQuantRows*, int64_t, float*);

void llava_dot_rows(int path, const LlavaDotPanel* p, const LlavaQuantRows* x, int64_t row,
                    int rows, float* c) {
  static const RowsKernel avx512_s[] = {avx512_signed_1, avx512_signed_2, avx512_signed_3,
                                        avx512_signed_4, avx512_signed_5, avx512_signed_6};
  static const RowsKernel avx512_u[] = {avx512_unsigned_1, avx512_unsigned_2, avx512_unsigned_3,
                                        avx512_unsigned_4, avx512_unsigned_5, avx512_unsigned_6};
  static const RowsKernel vnni_s[] = {vnni_signed_1, vnni_signed_2, vnni_signed_3};
  static const RowsKernel vnni_u[] = {vnni_unsigned_1, vnni_unsigned_2, vnni_unsigned_3};
  static const RowsKernel avx2_s[] = {avx2_int8_1, avx2_int8_2, avx2_int8_3, avx2_int8_4};
  static const RowsKernel avx2_u[] = {avx2_int4_1, avx2_int4_2, avx2_int4_3, avx2_int4_4};
  const int is_signed = p->min == NULL;
  switch (path) {
    case LLAVA_INT8_AVX512:
      (is_signed ? avx512_s : avx512_u)[rows - 1](p, x, row, c);
      return;
    case LLAVA_INT8_AVXVNNI:
      (is_signed ? vnni_s : vnni_u)[rows - 1](p, x, row, c);
      return;
    case LLAVA_INT8_AVX2:
      (is_signed ? avx2_s : avx2_u)[rows - 1](p, x, row, c);
      return;
    default:
      plain_rows(p, x, row, rows, c);
      return;
  }
}

/* ---- A whole matmul: quantize once, then tiles by row blocks ---- */

#define ROW_BLOCK 256 /* rows per task */

typedef struct {
  int path;
  const LlavaQuantRows* xq;
  int64_t tiles;
  float* y;
  int64_t n;
  int with_min;
  LlavaDotPack pack;
  const void* weights;
  const uint8_t* w;   /* the weight blocks, tile_bytes a tile, or NULL: nothing to prefetch */
  int64_t tile_bytes;
  int64_t tasks;
  int threads;
  int failed; /* a task could not allocate its panel */
} DotJob;

static void dot_task(void* arg, int64_t task) {
  DotJob* job = (DotJob*)arg;
  const int64_t tile = task % job->tiles;
  const int64_t row_begin = task / job->tiles * ROW_BLOCK;
  const int64_t m = job->xq->m;
  const int64_t row_end = row_begin + ROW_BLOCK < m ? row_begin + ROW_BLOCK : m;
  LlavaDotPanel panel;
  if (!llava_dot_panel_get(&panel, job->xq->kb, job->with_min)) {
    __atomic_store_n(&job->failed, 1, __ATOMIC_RELAXED);
    return;
  }
  panel.path = job->path;
  job->pack(job->weights, tile, &panel);
  llava_dot_panel_finish(job->path, &panel);
  const int group = llava_dot_row_group(job->path);
  const int64_t col0 = tile * COLS;
  const int64_t cols = job->n - col0 < COLS ? job->n - col0 : COLS;
  float c[LLAVA_DOT_MAX_ROWS * COLS] __attribute__((aligned(64)));
  /* The tile this thread most likely packs next (the tasks go out in order, one to each thread in
   * turn), asked for a slice per row group, so that its weights stream in from memory while this
   * panel is multiplied instead of stalling the next pack (as prefetcht1, which left the panel's
   * lines in L1 alone: 2-7% faster 128-token prefills than prefetcht0). */
  const int64_t next = task + job->threads;
  const uint8_t* ahead =
      job->w != NULL && next < job->tasks ? job->w + next % job->tiles * job->tile_bytes : NULL;
  const int64_t lines = job->tile_bytes / 64;
  const int64_t groups = (row_end - row_begin + group - 1) / group;
  const int64_t per_group = (lines + groups - 1) / groups;
  int64_t line = 0;
  for (int64_t row = row_begin; row < row_end; row += group) {
    const int rows = row_end - row < group ? (int)(row_end - row) : group;
    if (ahead != NULL) {
      for (int64_t i = 0; i < per_group && line < lines; i++, line++) {
        __builtin_prefetch(ahead + 64 * line, 0, 2);
      }
    }
    llava_dot_rows(job->path, &panel, job->xq, row, rows, c);
    for (int r = 0; r < rows; r++) {
      memcpy(job->y + (row + r) * job->n + col0, c + r * COLS, (size_t)cols * sizeof(float));
    }
  }
}

int llava_dot_matmul(int path, const float* x, int64_t m, int64_t k, int64_t kb, int64_t tiles,
                     float* y, int64_t n, int with_min, int threads, LlavaDotPack pack,
                     const void* weights, const uint8_t* w, int64_t tile_bytes) {
  LlavaQuantRows xq;
  if (!llava_quant_rows(path, x, m, k, with_min, threads, &xq)) {
    return 0;
  }
  if (xq.kb != kb) {
    return 0;
  }
  DotJob job = {.path = path,
                .xq = &xq,
                .tiles = tiles,
                .y = y,
                .n = n,
                .with_min = with_min,
                .pack = pack,
                .weights = weights,
                .w = w,
                .tile_bytes = tile_bytes,
                .tasks = (m + ROW_BLOCK - 1) / ROW_BLOCK * tiles,
                .threads = threads};
  llava_parallel_for(job.tasks, threads, dot_task, &job);
  return !job.failed;
}

/* ---- Weight blocks read in place (AVX-512 VNNI with VBMI): few rows, no panel ---- */

/*
 * Few rows (decode steps) do not pay for packing a panel: every weight would be rewritten for a
 * handful of rows (up to LLAVA_DOT_IN_PLACE_MAX_ROWS, where the panels measured slower). Here each 64 bytes of a block's values (4 rows of its 16 columns) become, by one
 * vpermb (transpose_index, as the panels are packed), 16 vpdpbusd lanes of four bytes, lane c
 * holding column c's four rows.
 * int8: the rows are inputs 4t .. 4t + 3 in order; the weights take the unsigned side flipped by
 * 128, so each block's sums start at -128 times the row's sum of quantized activations (the panels
 * flip the activations instead and start at -128 times the weights' sum: the same integers).
 * int4: the rows are pairs 4t .. 4t + 3, whose low halves are inputs 8t + 0, 2, 4, 6 and high
 * halves 8t + 1, 3, 5, 7; the activations are quantized in that order (the int4 order), and two
 * vpdpbusd take the 128 products (the values 0..15 the unsigned side, as in the panels).
 */
#define VBMI __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi")))
#define HEAD 64 /* a block's scales (int8), or steps and minimums (int4) */
/* How far ahead in each column block's stream the blocks are asked for: about 2.5 KB, 8 int4
 * blocks or 5 int8 ones (a single decoding row measured 20-30% faster with int4 than leaving the
 * stream to the hardware prefetcher, which restarts at every column block). Up to
 * AHEAD_L2_MAX_ROWS rows they are asked for into L2 (prefetcht1), not L1: four streams a task
 * ahead by 2.5 KB each is more lines than L1's miss buffers hold, and on a Zen 4 a single row's
 * int4 matmul streamed 29-34 GB/s of weights from memory that way against 24-27 into L1 (a C
 * harness over 87 MB of weights, two threads; 1 to 4 rows 20-30% faster), near the 35.9 GB/s of
 * the memory read probe. More rows read each block once per group of four, from cache after the
 * first: there the blocks go on into L1 (32 rows decoded no faster into L2 in `bench`). */
#define AHEAD_BYTES 2560
#define AHEAD_L2_MAX_ROWS 8

/*
 * NAME_R_NB: R rows by NB of a tile's four column blocks (block_stride apart), from block b0 on,
 * into c (row r's column block b at c + r * COLS + 16 * b). Each 64 bytes of weights unpacked
 * serve all R rows; the row count and the column blocks of a call change nothing in the sums.
 */
#define DEFINE_IN_PLACE(NAME, INT4, R, NB)                                                        \
  VBMI static void NAME##_##R##_##NB(const LlavaQuantRows* xq, int64_t row, const uint8_t* w,     \
                                     int64_t block_bytes, int64_t block_stride, int b0, int to_l2, \
                                     float* c) {                                                  \
    const __m512i lanes = _mm512_loadu_si512((const void*)transpose_index);                       \
    const __m512i low = _mm512_set1_epi8(0x0F);                                                   \
    const __m512i flip = _mm512_set1_epi8((char)0x80);                                            \
    const int64_t ahead = (AHEAD_BYTES + block_bytes - 1) / block_bytes * block_bytes;            \
    __m512 acc[R][NB];                                                                            \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int b = 0; b < NB; b++) {                                                              \
        acc[r][b] = _mm512_setzero_ps();                                                          \
      }                                                                                           \
    }                                                                                             \
    for (int64_t j = 0; j < xq->kb; j++) {                                                        \
      const uint8_t* blocks[NB];                                                                  \
      for (int b = 0; b < NB; b++) {                                                              \
        blocks[b] = w + (b0 + b) * block_stride + j * block_bytes;                                \
        for (int64_t at = 0; at < block_bytes; at += 64) {                                        \
          if (to_l2) {                                                                            \
            __builtin_prefetch(blocks[b] + ahead + at, 0, 2);                                     \
          } else {                                                                                \
            __builtin_prefetch(blocks[b] + ahead + at, 0, 3);                                     \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      const int8_t* q[R];                                                                         \
      __m512i is[R][NB];                                                                          \
      for (int r = 0; r < R; r++) {                                                               \
        q[r] = xq->q + ((row + r) * xq->kb + j) * QK;                                             \
        const __m512i start =                                                                     \
            _mm512_set1_epi32(INT4 ? 0 : -128 * xq->sum[(row + r) * xq->kb + j]);                 \
        for (int b = 0; b < NB; b++) {                                                            \
          is[r][b] = start;                                                                       \
        }                                                                                         \
      }                                                                                           \
      _Pragma("GCC unroll 8") for (int t = 0; t < (INT4 ? QK / 8 : QK / 4); t++) {                \
        __m512i xa[R], xb[R];                                                                     \
        for (int r = 0; r < R; r++) {                                                             \
          xa[r] = _mm512_set1_epi32(four(q[r] + (INT4 ? 8 : 4) * t, 0));                          \
          xb[r] = INT4 ? _mm512_set1_epi32(four(q[r] + 8 * t + 4, 0)) : xa[r];                    \
        }                                                                                         \
        for (int b = 0; b < NB; b++) {                                                            \
          const __m512i v = _mm512_permutexvar_epi8(                                              \
              lanes, _mm512_loadu_si512((const void*)(blocks[b] + HEAD + 64 * t)));               \
          if (INT4) {                                                                             \
            const __m512i lo = _mm512_and_si512(v, low);                                          \
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);                    \
            for (int r = 0; r < R; r++) {                                                         \
              is[r][b] = _mm512_dpbusd_epi32(is[r][b], lo, xa[r]);                                \
              is[r][b] = _mm512_dpbusd_epi32(is[r][b], hi, xb[r]);                                \
            }                                                                                     \
          } else {                                                                                \
            const __m512i u = _mm512_xor_si512(v, flip);                                          \
            for (int r = 0; r < R; r++) {                                                         \
              is[r][b] = _mm512_dpbusd_epi32(is[r][b], u, xa[r]);                                 \
            }                                                                                     \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int b = 0; b < NB; b++) {                                                              \
        const __m512 s =                                                                          \
            INT4 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)blocks[b]))                 \
                 : _mm512_loadu_ps((const float*)blocks[b]);                                      \
        const __m512 mn =                                                                         \
            INT4 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(blocks[b] + 32)))          \
                 : _mm512_setzero_ps();                                                           \
        for (int r = 0; r < R; r++) {                                                             \
          const __m512 xs = _mm512_set1_ps(xq->s[(row + r) * xq->kb + j]);                        \
          __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(is[r][b]), s);                              \
          if (INT4) {                                                                             \
            v = _mm512_fmadd_ps(mn, _mm512_set1_ps((float)xq->sum[(row + r) * xq->kb + j]), v);   \
          }                                                                                       \
          acc[r][b] = _mm512_fmadd_ps(v, xs, acc[r][b]);                                          \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int b = 0; b < NB; b++) {                                                              \
        _mm512_storeu_ps(c + r * COLS + 16 * (b0 + b), acc[r][b]);                                \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_IN_PLACE(in_place_int8, 0, 1, 4)
DEFINE_IN_PLACE(in_place_int8, 0, 2, 4)
DEFINE_IN_PLACE(in_place_int8, 0, 4, 2)
DEFINE_IN_PLACE(in_place_int4, 1, 1, 4)
DEFINE_IN_PLACE(in_place_int4, 1, 2, 4)
DEFINE_IN_PLACE(in_place_int4, 1, 4, 2)

int llava_dot_in_place_takes(int path, int64_t m) {
  pthread_once(&vbmi_once, choose_put); /* has_vbmi, and transpose_index for the kernels */
  return m <= LLAVA_DOT_IN_PLACE_MAX_ROWS && path == LLAVA_INT8_AVX512 && has_vbmi;
}

typedef struct {
  const LlavaQuantRows* xq;
  const uint8_t* w;
  int64_t block_bytes;
  float* y;
  int64_t n;
  int int4;
} InPlaceJob;

static void in_place_task(void* arg, int64_t tile) {
  const InPlaceJob* job = (const InPlaceJob*)arg;
  float c[4 * COLS] __attribute__((aligned(64)));
  const int64_t block_stride = job->xq->kb * job->block_bytes;
  const uint8_t* w = job->w + tile * 4 * block_stride;
  const int64_t col0 = tile * COLS;
  const int64_t cols = job->n - col0 < COLS ? job->n - col0 : COLS;
  const int64_t m = job->xq->m;
  const int to_l2 = m <= AHEAD_L2_MAX_ROWS;
  for (int64_t row = 0; row < m;) {
    const int rows = m - row >= 4 ? 4 : m - row >= 2 ? 2 : 1;
    if (rows == 4) { /* four rows by half a tile at a time: 16 accumulators and 16 sums */
      for (int b0 = 0; b0 < 4; b0 += 2) {
        (job->int4 ? in_place_int4_4_2 : in_place_int8_4_2)(job->xq, row, w, job->block_bytes,
                                                            block_stride, b0, to_l2, c);
      }
    } else if (job->int4) {
      (rows == 2 ? in_place_int4_2_4 : in_place_int4_1_4)(job->xq, row, w, job->block_bytes,
                                                         block_stride, 0, to_l2, c);
    } else {
      (rows == 2 ? in_place_int8_2_4 : in_place_int8_1_4)(job->xq, row, w, job->block_bytes,
                                                         block_stride, 0, to_l2, c);
    }
    for (int r = 0; r < rows; r++) {
      memcpy(job->y + (row + r) * job->n + col0, c + r * COLS, (size_t)cols * sizeof(float));
    }
    row += rows;
  }
}

int llava_dot_in_place(const float* x, int64_t m, int64_t k, int64_t kb, const uint8_t* w,
                       int64_t block_bytes, int64_t tiles, float* y, int64_t n, int int4,
                       int threads) {
  LlavaQuantRows xq;
  if (!llava_quant_rows(LLAVA_INT8_AVX512, x, m, k, int4, threads, &xq) || xq.kb != kb) {
    return 0;
  }
  InPlaceJob job = {.xq = &xq, .w = w, .block_bytes = block_bytes, .y = y, .n = n, .int4 = int4};
  llava_parallel_for(tiles, threads, in_place_task, &job);
  return 1;
}

/* ---- int4 blocks read in place with AVX2: few rows, no panel ---- */

/*
 * Without VBMI the panels cost a rewrite of every weight a call reads, which few rows do not pay
 * for. A Q4 block's byte holds one column's two inputs 2p and 2p + 1, just the pair a vpmaddubsw
 * lane multiplies. One 256-bit load takes two pairs of inputs (2p, 2p + 1 in the low 128-bit lane,
 * 2p + 2, 2p + 3 in the high one) for 16 columns; its low and high nibbles, masked apart, are
 * interleaved back into byte pairs (vpunpcklbw for columns 0-7, vpunpckhbw for 8-15, in both
 * lanes), and the row's four activations are spread so that each lane multiplies its own pair.
 * That is five instructions for 32 bytes, where widening 16 bytes to 16 bits and splitting each
 * byte ((v | v << 4) & 0x0f0f) took four for 16: on AMD Zen 3 (a C harness of a decode step's 33
 * int4 matmuls, one row) one thread streamed 10.9-11.1 GB/s of weights against 7.5-8.2, about what
 * one thread reads from memory there. Each lane's sum is at most 2 * 15 * 127, so the eight
 * products of a block's lane add up in int16 before the two lanes are widened to int32 and added;
 * the block's int32 sums are the panels', and the float32 steps the same, so the bits are the same
 * too.
 */
/*
 * Calls of up to this many rows read the blocks in place, a row group of up to three at a time: in
 * the C harness (a decode step's 33 int4 matmuls, two threads, AMD Zen 3, alternating runs) 4 rows
 * ran 42.3 and 40.0 GMAC/s on panels against 46.7 and 51.3 in place, 5 rows 51-56 against 61-68,
 * 6 rows 60-64 against 59-75, 7 rows 52-65 against 56-59, 16 rows 90-93 against 53-72.
 */
#define AVX2_IN_PLACE_MAX_ROWS 6
#define AVX2_IN_PLACE_ROWS 3
#define Q4_BYTES 320 /* a Q4 block: 16 steps, 16 minimums, 16 pairs of 16 columns */

#define AVX2_F16C __attribute__((target("avx2,fma,f16c")))

#define DEFINE_AVX2_IN_PLACE(R)                                                                   \
  AVX2_F16C static void avx2_in_place_int4_##R(const LlavaQuantRows* xq, int64_t row,             \
                                               const uint8_t* w, float* c) {                      \
    const __m256i nibble = _mm256_set1_epi8(0x0F);                                                \
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, \
                                          3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);                 \
    const int64_t kb = xq->kb;                                                                    \
    const int8_t* q[R];                                                                           \
    const float* s[R];                                                                            \
    const int32_t* sum[R];                                                                        \
    for (int r = 0; r < R; r++) {                                                                 \
      memset(c + r * 16, 0, sizeof(float) * 16);                                                  \
      q[r] = xq->q + (row + r) * kb * QK;                                                         \
      s[r] = xq->s + (row + r) * kb;                                                              \
      sum[r] = xq->sum + (row + r) * kb;                                                          \
    }                                                                                             \
    for (int64_t j = 0; j < kb; j++) {                                                            \
      const uint8_t* block = w + j * Q4_BYTES;                                                    \
      for (int at = 0; at < Q4_BYTES; at += 64) {                                                 \
        __builtin_prefetch(block + AHEAD_BYTES / Q4_BYTES * Q4_BYTES + at, 0, 2);                 \
      }                                                                                           \
      __m256i s_lo[R], s_hi[R];                                                                   \
      for (int r = 0; r < R; r++) {                                                               \
        s_lo[r] = _mm256_setzero_si256();                                                         \
        s_hi[r] = _mm256_setzero_si256();                                                         \
      }                                                                                           \
      _Pragma("GCC unroll 8") for (int pp = 0; pp < 8; pp++) {                                    \
        const __m256i v = _mm256_loadu_si256((const __m256i*)(block + HEAD + 32 * pp));           \
        const __m256i low = _mm256_and_si256(v, nibble);                                          \
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);                   \
        const __m256i wa = _mm256_unpacklo_epi8(low, high);                                       \
        const __m256i wb = _mm256_unpackhi_epi8(low, high);                                       \
        for (int r = 0; r < R; r++) {                                                             \
          int32_t four_;                                                                          \
          memcpy(&four_, q[r] + j * QK + 4 * pp, 4);                                              \
          const __m256i xv = _mm256_shuffle_epi8(_mm256_set1_epi32(four_), pick);                 \
          s_lo[r] = _mm256_add_epi16(s_lo[r], _mm256_maddubs_epi16(wa, xv));                      \
          s_hi[r] = _mm256_add_epi16(s_hi[r], _mm256_maddubs_epi16(wb, xv));                      \
          __asm__("" : "+x"(s_lo[r]), "+x"(s_hi[r]));                                             \
        }                                                                                         \
      }                                                                                           \
      __m256i lo[R], hi[R];                                                                       \
      for (int r = 0; r < R; r++) {                                                               \
        lo[r] = _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(s_lo[r])),          \
                                 _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s_lo[r], 1)));    \
        hi[r] = _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(s_hi[r])),          \
                                 _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s_hi[r], 1)));    \
      }                                                                                           \
      const __m256 d_lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)block));                \
      const __m256 d_hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(block + 16)));         \
      const __m256 m_lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(block + 32)));         \
      const __m256 m_hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(block + 48)));         \
      for (int r = 0; r < R; r++) {                                                               \
        const __m256 xs = _mm256_set1_ps(s[r][j]);                                                \
        const __m256 sq = _mm256_set1_ps((float)sum[r][j]);                                       \
        float* out = c + r * 16;                                                                  \
        __m256 v = _mm256_fmadd_ps(m_lo, sq, _mm256_mul_ps(_mm256_cvtepi32_ps(lo[r]), d_lo));     \
        _mm256_storeu_ps(out, _mm256_fmadd_ps(v, xs, _mm256_loadu_ps(out)));                      \
        v = _mm256_fmadd_ps(m_hi, sq, _mm256_mul_ps(_mm256_cvtepi32_ps(hi[r]), d_hi));            \
        _mm256_storeu_ps(out + 8, _mm256_fmadd_ps(v, xs, _mm256_loadu_ps(out + 8)));              \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_AVX2_IN_PLACE(1)
DEFINE_AVX2_IN_PLACE(2)
DEFINE_AVX2_IN_PLACE(3)

typedef struct {
  const LlavaQuantRows* xq;
  const uint8_t* w;
  float* y;
  int64_t n;
} Avx2InPlaceJob;

/*
 * One tile of four column blocks of 16 (64 columns) for every row, a group of up to
 * AVX2_IN_PLACE_ROWS rows at a time. A tile's blocks follow each other in memory, so each thread
 * streams 64 columns' weights in one run and asks for the next block's bytes across the block
 * boundary; a task of one column block, the threads taking turns, measured 25-35% slower for one
 * row (a C harness of a decode step's 33 int4 matmuls, two threads, AMD EPYC Zen 3).
 */
static void avx2_in_place_task(void* arg, int64_t tile) {
  typedef void (*Rows)(const LlavaQuantRows*, int64_t, const uint8_t*, float*);
  static const Rows kernels[AVX2_IN_PLACE_ROWS] = {avx2_in_place_int4_1, avx2_in_place_int4_2,
                                                   avx2_in_place_int4_3};
  const Avx2InPlaceJob* job = (const Avx2InPlaceJob*)arg;
  float c[AVX2_IN_PLACE_ROWS * 16] __attribute__((aligned(32)));
  for (int64_t block = 4 * tile; block < 4 * tile + 4; block++) {
    const int64_t col0 = block * 16;
    if (col0 >= job->n) {
      return;
    }
    const int64_t cols = job->n - col0 < 16 ? job->n - col0 : 16;
    const uint8_t* w = job->w + block * job->xq->kb * Q4_BYTES;
    for (int64_t row = 0; row < job->xq->m; row += AVX2_IN_PLACE_ROWS) {
      const int rows =
          job->xq->m - row < AVX2_IN_PLACE_ROWS ? (int)(job->xq->m - row) : AVX2_IN_PLACE_ROWS;
      kernels[rows - 1](job->xq, row, w, c);
      for (int r = 0; r < rows; r++) {
        memcpy(job->y + (row + r) * job->n + col0, c + r * 16, (size_t)cols * sizeof(float));
      }
    }
  }
}

int llava_dot_blocks(int path, const float* x, int64_t m, int64_t k, int64_t kb, const uint8_t* w,
                     int64_t block_bytes, int64_t tiles, float* y, int64_t n, int int4, int threads,
                     LlavaDotPack pack, const void* weights) {
  if (llava_dot_in_place_takes(path, m)) {
    return llava_dot_in_place(x, m, k, kb, w, block_bytes, tiles, y, n, int4, threads);
  }
  if (int4 && path == LLAVA_INT8_AVX2 && m <= AVX2_IN_PLACE_MAX_ROWS && block_bytes == Q4_BYTES &&
      __builtin_cpu_supports("f16c")) {
    LlavaQuantRows xq; /* in input order: a block's byte holds one column's inputs 2p, 2p + 1 */
    if (!llava_quant_rows(path, x, m, k, 0, threads, &xq) || xq.kb != kb) {
      return 0;
    }
    Avx2InPlaceJob job = {.xq = &xq, .w = w, .y = y, .n = n};
    llava_parallel_for(tiles, threads, avx2_in_place_task, &job);
    return 1;
  }
  return llava_dot_matmul(path, x, m, k, kb, tiles, y, n, int4, threads, pack, weights, w,
                          4 * kb * block_bytes);
}
