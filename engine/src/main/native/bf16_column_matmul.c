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

#include "column_block_matmul.h"
