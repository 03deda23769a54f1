/*
 * LlavaF32MatMul: y = x @ W for a float32 Linear layer, its weight packed once at load time in
 * column blocks that stream well: x float [M, K], w float [NB, K, 16], y float [M, n] (see
 * column_block_matmul.h for the layout, attrs and loops).
 *
 * TensorFlow's own MatMul (oneDNN) streams a single row's weights at about half of what the
 * machine's memory gives (19.5-24 GB/s against a 46 GB/s probe on a 2-core AMD EPYC), and decoding
 * one sequence is that single row. The column blocks are read front to back, one 64-byte line per
 * k of a block, as the float16 kernel reads its own, with the same float32 arithmetic.
 */
#include <immintrin.h>

#define OP_NAME "LlavaF32MatMul"
#define WEIGHT_T float
#define WEIGHT_TYPE "float"
#define LOAD_8(p) _mm256_loadu_ps(p)
#define LOAD_16(p) _mm512_loadu_ps(p)
#define COPY_PANEL 0
#define LOAD_1(v) (v)

#include "column_block_matmul.h"
