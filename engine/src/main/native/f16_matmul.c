/*
 * LlavaF16MatMul: y = x @ W for a Linear layer whose weight is kept in IEEE float16 (as float16
 * checkpoints store it), packed once at load time in column blocks that stream well: x float [M, K],
 * w half [NB, K, 16], y float [M, n] (see column_block_matmul.h for the layout, attrs and loops).
 *
 * Decoding is bound by the bytes of weight read per step, so a float16 weight read as float16 and
 * widened in registers makes a step read half of what the same weight widened to float32 at load
 * would. Widening is exact, and the products and sums are float32, so the result equals float32
 * arithmetic on the widened weights up to the order of summation.
 */
#include <immintrin.h>
#include <stdint.h>

#include "half.h"

#define OP_NAME "LlavaF16MatMul"
#define WEIGHT_T uint16_t
#define WEIGHT_TYPE "half"
#define LOAD_8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(p)))
#define LOAD_16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(p)))
#define COPY_PANEL 1
#define LOAD_1(v) llava_from_f16(v)

#include "column_block_matmul.h"
