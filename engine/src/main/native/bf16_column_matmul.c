/*
 * LlavaBf16ColumnMatMul: y = x @ W for a Linear layer whose weight is kept in bfloat16 (as
 * bfloat16 checkpoints store it), packed once at load time in column blocks that stream well:
 * x float [M, K], w bfloat16 [NB, K, 16], y float [M, n] (see column_block_matmul.h for the
 * layout, attrs and loops).
 *
 * A bfloat16 value is the top half of a float32, so widening one is a 16-bit shift in registers
 * (no conversion instruction): the weight streams at 2 bytes an element, half of float32's, and
 * the products and sums are float32 on float32 activations. On a bfloat16 checkpoint the result
 * equals float32 arithmetic on the widened weights up to the order of summation, where
 * LlavaBf16MatMul (bf16_matmul.c: AMX tiles, AVX512-BF16 dot products) rounds the activations to
 * bfloat16 too. This is the kernel for CPUs without AMX: AVX2 + FMA (the floor, x86-64-v3),
 * AVX-512F, or plain C.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* A bfloat16 value widened to float32, exactly: its bits become the float's upper half. */
static inline float llava_from_bf16(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#define OP_NAME "LlavaBf16ColumnMatMul"
#define WEIGHT_T uint16_t
#define WEIGHT_TYPE "bfloat16"
#define LOAD_8(p) \
  _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(p))), 16))
#define LOAD_16(p)                                                                             \
  _mm512_castsi512_ps(                                                                        \
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(p))), 16))
#define COPY_PANEL 1
#define LOAD_1(v) llava_from_bf16(v)

/*
 * On AVX2 a k of a block (16 bfloat16 weights, one 256-bit load) widens in two single
 * instructions: shifted left by 16 bits, each 32-bit lane holds its even column as a float32; with
 * the lower 16 bits cleared, its odd one. The sums are kept for columns 0, 2, ..., 14 and 1, 3,
 * ..., 15 and interleaved back when stored. Widening 8 columns at a time (a zero extension, then a
 * shift: two instructions on the shuffle ports for 8 columns, which AMD Zen 3 shares with the
 * FMAs) measured 12-19% slower there (the bench preset's 33 matmuls on 2 threads, best of
 * alternating runs: 32 rows 52.8 against 62.6 GMAC/s, 128 rows 50.9 against 58.8, 1,024 rows 60.2
 * against 69.4). Each column's sum is the same FMAs in the same order either way. Each half loads
 * the 32 bytes again (from L1) rather than keeping the first load for the second half: the 3 x 32
 * micro-kernel's 12 accumulators, 3 activations and one weight fill the 16 ymm registers, and
 * holding both halves at once spilled (the float16 kernel, built that way, fell from 65 to 36
 * GMAC/s at 128 rows).
 */
#define AVX2_HALF(p, h)                                                           \
  ((h) == 0 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i*)(p)), 16)) \
            : _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256((const __m256i*)(p)),      \
                                                   _mm256_set1_epi32((int)0xFFFF0000))))
#define AVX2_ORDER(a, b, out)                                                    \
  do {                                                                           \
    const __m256 low_ = _mm256_unpacklo_ps((a), (b));  /* 0-3 | 8-11 */          \
    const __m256 high_ = _mm256_unpackhi_ps((a), (b)); /* 4-7 | 12-15 */         \
    _mm256_storeu_ps((out), _mm256_permute2f128_ps(low_, high_, 0x20));          \
    _mm256_storeu_ps((out) + 8, _mm256_permute2f128_ps(low_, high_, 0x31));      \
  } while (0)

#include "column_block_matmul.h"
