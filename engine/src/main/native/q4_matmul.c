/*
 * LlavaQ4MatMul: y = x @ W for a Linear layer whose weight was quantized at load time to 4 bits as
 * llama.cpp's Q4_1 (blocks of 32 along the input, each with a step d and a minimum m in float16:
 * W ~ u * d + m with u in [0, 15]).
 *
 * Decoding is bound by the bytes of weight read per step: 0.625 bytes a weight here against 1.125
 * for int8 and 2 for float16. The values are unpacked and widened in registers and multiplied with
 * the float32 activations (in calls of fewer than int8_rows rows; larger ones go through
 * int8_dot.c with int8 activations). For each Q4 block the products x_i * u_i are
 * summed in float32, and y gains d * (that sum) + m * (the block's sum of x_i):
 *   y = sum over blocks of d * (sum of x_i * u_i) + m * (sum of x_i),
 * which is sum x_i * (u_i * d + m), the product with the dequantized weights, up to rounding (the
 * order of summation, and d and m applied to a block's sums rather than to each weight), as
 * llama.cpp's Q4_1 dot product does. The sums of x over each block are the same for every column,
 * so they are taken once per call, before the tiles.
 *
 * Inputs:
 *   x   float [M, K]
 *   w   uint8 [NB, KB, 320]   NB = ceil(N / 64) * 4 column blocks of 16, KB = ceil(K / 32) blocks
 *                             of 32 inputs. w[b, j] is one Q4 block of 16 columns by 32 inputs:
 *                             16 float16 steps d[c] (32 bytes, little-endian), 16 float16
 *                             minimums m[c] (32 bytes), then u[16][16]: 16 bytes per pair of
 *                             inputs, byte c holding input 2p's value of column c in its low four
 *                             bits and input 2p + 1's in its high four:
 *                             W[32j + i, 16b + c] ~ u(i, c) * d[c] + m[c], zero past N (d = m =
 *                             0). A column block's Q4 blocks follow each other in input order, so
 *                             a block of columns streams from memory in one pass; one pair of
 *                             inputs' 16 columns are 16 contiguous bytes, one AVX-512 vector once
 *                             widened; a Q4 block is 5 cache lines, its steps and minimums the
 *                             first.
 * Output:
 *   y   float [M, n]
 * Attrs:
 *   n            int   output columns (N)
 *   num_threads  int   worker threads for one call (the calling thread included)
 *   path         int   -1: the best this CPU has; 0 plain, 1 AVX2 + FMA + F16C, 2 AVX-512F: at
 *                      most this one
 *   int8_rows    int   0 (default): float32 activations always; else calls of at least this many
 *                      rows quantize x to int8 and take integer dot products (the values 0..15
 *                      unsigned, the minimum times the block's sum of x): calls of up to
 *                      LLAVA_DOT_IN_PLACE_MAX_ROWS rows against the Q4 blocks in place where the
 *                      CPU has AVX-512 VNNI and VBMI, the others on panels packed per task
 *                      (int8_dot.c)
 *   int8_path    int   -1: the best integer path; 0 plain, 1 AVX2, 2 AVX-VNNI, 3 AVX-512 VNNI
 *
 * A task is 64 columns (4 column blocks) of up to ROW_BLOCK rows, a micro-kernel a group of a few
 * rows by 32 (AVX2) or 64 (AVX-512) columns, and every row group unpacks the weight it reads in
 * registers, however many rows, as the int8 kernel does. A row's result takes the same operations
 * in the same order whatever the group it falls in, so it is the same bits however many rows share
 * the call. The plain path widens each Q4 block's values once per row group and does the same
 * arithmetic.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "int8_dot.h"
#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define OP_NAME "LlavaQ4MatMul"
#define COLUMNS 16                                      /* columns of one column block */
#define QK 32                                           /* inputs per step and minimum */
#define HALVES_BYTES (COLUMNS * 2)                      /* a Q4 block's steps, or its minimums */
#define HEAD_BYTES (2 * HALVES_BYTES)                   /* steps and minimums */
#define BLOCK_BYTES (HEAD_BYTES + QK / 2 * COLUMNS)     /* a Q4 block: 320 */
#define TILE_BLOCKS 4                                   /* column blocks per task: 64 columns */
#define ROW_BLOCK 256 /* rows per task, so a task's x stays in L2 */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f")))
#define AVX2_ROWS 3   /* rows x 32 columns: 12 block sums of the 16 ymm registers */
#define AVX512_ROWS 4 /* rows x 64 columns: 16 block sums of the 32 zmm registers */
#define PLAIN_ROWS 4

enum { PLAIN = 0, WITH_AVX2 = 1, WITH_AVX512 = 2 };

typedef struct {
  const float* x;   /* [M, K] */
  const float* xs;  /* [M, KB]: each row's sum of x over each block of 32 inputs */
  const uint8_t* w; /* [NB, KB, BLOCK_BYTES] */
  float* y;         /* [M, n] */
  int64_t m, k, kb, nb, n;
  int path;
} MatMul;

typedef LlavaMatMulAttrs Kernel;

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

/* The float16 steps of a Q4 block, then its minimums (little-endian, as the host stores them). */
static inline const uint16_t* steps_of(const uint8_t* block) { return (const uint16_t*)block; }

static inline const uint16_t* minimums_of(const uint8_t* block) {
  return (const uint16_t*)(block + HALVES_BYTES);
}

/* The packed values of a Q4 block, [QK / 2][COLUMNS]: a byte holds two inputs' values. */
static inline const uint8_t* values_of(const uint8_t* block) { return block + HEAD_BYTES; }

/*
 * xs[j] = the sum of x over inputs 32j .. 32j + 31 (fewer in the last block), in input order. One
 * function for every row, so a row's sums do not depend on the rows around it.
 */
__attribute__((noinline)) static void block_sums(const float* x, int64_t k, float* xs) {
  for (int64_t k0 = 0; k0 < k; k0 += QK) {
    const int64_t kc = k - k0 < QK ? k - k0 : QK;
    float s = 0.0f;
    for (int64_t i = 0; i < kc; i++) {
      s += x[k0 + i];
    }
    xs[k0 / QK] = s;
  }
}

/* Writes a row group's results c [rows, width] into y at (row, col0), the columns past n left out. */
static void put(const MatMul* mm, int64_t row, int64_t rows, int64_t col0, int64_t width,
                const float* c) {
  const int64_t cols = mm->n - col0 < width ? mm->n - col0 : width;
  for (int64_t r = 0; r < rows; r++) {
    memcpy(mm->y + (row + r) * mm->n + col0, c + r * width, (size_t)cols * sizeof(float));
  }
}

/* ---- AVX2: 32 columns (two column blocks, four ymm) by up to AVX2_ROWS rows ---- */

/*
 * c [R, 32] = x [R, K] (rows ldx apart; their block sums xs, rows kb apart) @ two column blocks of
 * w (block_stride apart), Q4 block by Q4 block: the block's products summed in part, then part
 * times the steps and xs times the minimums added to acc. One byte of eight columns, widened to
 * int32, gives two inputs: its low four bits and its high four.
 */
#define DEFINE_AVX2(R)                                                                            \
  AVX2 static void avx2_rows_##R(const float* x, int64_t ldx, const float* xs, int64_t kb,        \
                                 const uint8_t* w, int64_t block_stride, int64_t k, float* c) {   \
    const __m256i low = _mm256_set1_epi32(0x0f);                                                  \
    __m256 acc[R][4];                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        acc[r][j] = _mm256_setzero_ps();                                                          \
      }                                                                                           \
    }                                                                                             \
    for (int64_t k0 = 0; k0 < k; k0 += QK) {                                                      \
      const uint8_t* blocks[2] = {w + k0 / QK * BLOCK_BYTES,                                      \
                                  w + block_stride + k0 / QK * BLOCK_BYTES};                      \
      const int64_t kc = k - k0 < QK ? k - k0 : QK;                                               \
      __m256 part[R][4];                                                                          \
      for (int r = 0; r < R; r++) {                                                               \
        for (int j = 0; j < 4; j++) {                                                             \
          part[r][j] = _mm256_setzero_ps();                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int64_t i = 0; i < kc; i += 2) {                                                       \
        __m256 x0[R], x1[R];                                                                      \
        for (int r = 0; r < R; r++) {                                                             \
          x0[r] = _mm256_broadcast_ss(x + r * ldx + k0 + i);                                      \
          x1[r] = i + 1 < kc ? _mm256_broadcast_ss(x + r * ldx + k0 + i + 1)                      \
                             : _mm256_setzero_ps();                                               \
        }                                                                                         \
        for (int j = 0; j < 4; j++) {                                                             \
          const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(                                 \
              (const __m128i*)(values_of(blocks[j >> 1]) + i / 2 * COLUMNS + 8 * (j & 1))));      \
          const __m256 u0 = _mm256_cvtepi32_ps(_mm256_and_si256(v, low));                         \
          const __m256 u1 = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4));                          \
          for (int r = 0; r < R; r++) {                                                           \
            part[r][j] = _mm256_fmadd_ps(x0[r], u0, part[r][j]);                                  \
            part[r][j] = _mm256_fmadd_ps(x1[r], u1, part[r][j]);                                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int j = 0; j < 4; j++) {                                                               \
        const int off = 8 * (j & 1);                                                              \
        const __m256 d = _mm256_cvtph_ps(                                                         \
            _mm_loadu_si128((const __m128i*)(steps_of(blocks[j >> 1]) + off)));                   \
        const __m256 m = _mm256_cvtph_ps(                                                         \
            _mm_loadu_si128((const __m128i*)(minimums_of(blocks[j >> 1]) + off)));                \
        for (int r = 0; r < R; r++) {                                                             \
          acc[r][j] = _mm256_fmadd_ps(part[r][j], d, acc[r][j]);                                  \
          acc[r][j] = _mm256_fmadd_ps(_mm256_broadcast_ss(xs + r * kb + k0 / QK), m, acc[r][j]);  \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        _mm256_storeu_ps(c + r * 32 + 8 * j, acc[r][j]);                                          \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_AVX2(1)
DEFINE_AVX2(2)
DEFINE_AVX2(3)

AVX2 static void tile_avx2(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  float c[AVX2_ROWS * 32];
  const int64_t block_stride = mm->kb * BLOCK_BYTES;
  for (int half = 0; half < 2; half++) {
    const int64_t block = tile * TILE_BLOCKS + 2 * half;
    const int64_t col0 = block * COLUMNS;
    if (col0 >= mm->n) {
      break;
    }
    const uint8_t* w = mm->w + block * block_stride;
    for (int64_t row = row_begin; row < row_end; row += AVX2_ROWS) {
      const int64_t rows = row_end - row < AVX2_ROWS ? row_end - row : AVX2_ROWS;
      const float* x = mm->x + row * mm->k;
      const float* xs = mm->xs + row * mm->kb;
      switch (rows) {
        case 3:
          avx2_rows_3(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
          break;
        case 2:
          avx2_rows_2(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
          break;
        default:
          avx2_rows_1(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
          break;
      }
      put(mm, row, rows, col0, 32, c);
    }
  }
}

/* ---- AVX-512: 64 columns (four column blocks, four zmm) by up to AVX512_ROWS rows ---- */

/*
 * c [R, 64] = x [R, K] @ four column blocks of w, as avx2_rows. A pair of inputs' 16 bytes widen to
 * one zmm of int32; vpermps reads only the low four bits of each index, so looking the bytes up in
 * a table of 0 .. 15 gives the low values as floats without masking them, and the bytes shifted
 * right by four the high ones.
 */
#define DEFINE_AVX512(R)                                                                          \
  AVX512 static void avx512_rows_##R(const float* x, int64_t ldx, const float* xs, int64_t kb,    \
                                     const uint8_t* w, int64_t block_stride, int64_t k,           \
                                     float* c) {                                                  \
    const __m512 table =                                                                          \
        _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);                     \
    __m512 acc[R][4];                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        acc[r][j] = _mm512_setzero_ps();                                                          \
      }                                                                                           \
    }                                                                                             \
    for (int64_t k0 = 0; k0 < k; k0 += QK) {                                                      \
      const uint8_t* blocks[4];                                                                   \
      for (int j = 0; j < 4; j++) {                                                               \
        blocks[j] = w + j * block_stride + k0 / QK * BLOCK_BYTES;                                 \
      }                                                                                           \
      const int64_t kc = k - k0 < QK ? k - k0 : QK;                                               \
      __m512 part[R][4];                                                                          \
      for (int r = 0; r < R; r++) {                                                               \
        for (int j = 0; j < 4; j++) {                                                             \
          part[r][j] = _mm512_setzero_ps();                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int64_t i = 0; i < kc; i += 2) {                                                       \
        __m512 u0[4], u1[4];                                                                      \
        for (int j = 0; j < 4; j++) {                                                             \
          const __m512i v = _mm512_cvtepu8_epi32(                                                 \
              _mm_loadu_si128((const __m128i*)(values_of(blocks[j]) + i / 2 * COLUMNS)));         \
          u0[j] = _mm512_permutexvar_ps(v, table);                                                \
          u1[j] = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);                          \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          const __m512 x0 = _mm512_set1_ps(x[r * ldx + k0 + i]);                                  \
          const __m512 x1 = _mm512_set1_ps(i + 1 < kc ? x[r * ldx + k0 + i + 1] : 0.0f);          \
          for (int j = 0; j < 4; j++) {                                                           \
            part[r][j] = _mm512_fmadd_ps(x0, u0[j], part[r][j]);                                  \
            part[r][j] = _mm512_fmadd_ps(x1, u1[j], part[r][j]);                                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int j = 0; j < 4; j++) {                                                               \
        const __m512 d =                                                                          \
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)steps_of(blocks[j])));             \
        const __m512 m =                                                                          \
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)minimums_of(blocks[j])));          \
        for (int r = 0; r < R; r++) {                                                             \
          acc[r][j] = _mm512_fmadd_ps(part[r][j], d, acc[r][j]);                                  \
          acc[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(xs[r * kb + k0 / QK]), m, acc[r][j]);        \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        _mm512_storeu_ps(c + r * 64 + 16 * j, acc[r][j]);                                         \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_AVX512(1)
DEFINE_AVX512(2)
DEFINE_AVX512(3)
DEFINE_AVX512(4)

AVX512 static void tile_avx512(const MatMul* mm, int64_t tile, int64_t row_begin,
                               int64_t row_end) {
  float c[AVX512_ROWS * 64];
  const int64_t block_stride = mm->kb * BLOCK_BYTES;
  const int64_t col0 = tile * TILE_BLOCKS * COLUMNS;
  const uint8_t* w = mm->w + tile * TILE_BLOCKS * block_stride;
  for (int64_t row = row_begin; row < row_end; row += AVX512_ROWS) {
    const int64_t rows = row_end - row < AVX512_ROWS ? row_end - row : AVX512_ROWS;
    const float* x = mm->x + row * mm->k;
    const float* xs = mm->xs + row * mm->kb;
    switch (rows) {
      case 4:
        avx512_rows_4(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
        break;
      case 3:
        avx512_rows_3(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
        break;
      case 2:
        avx512_rows_2(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
        break;
      default:
        avx512_rows_1(x, mm->k, xs, mm->kb, w, block_stride, mm->k, c);
        break;
    }
    put(mm, row, rows, col0, 64, c);
  }
}

/* ---- Plain C: the same arithmetic, each Q4 block widened once per row group ---- */

static void tile_plain(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  float uf[QK * 64]; /* one Q4 block of each of the tile's column blocks, widened: [QK, 64] */
  float d[64];
  float m[64];
  float part[PLAIN_ROWS * 64];
  float c[PLAIN_ROWS * 64];
  const int64_t block_stride = mm->kb * BLOCK_BYTES;
  const int64_t col0 = tile * TILE_BLOCKS * COLUMNS;
  const uint8_t* w = mm->w + tile * TILE_BLOCKS * block_stride;
  for (int64_t row = row_begin; row < row_end; row += PLAIN_ROWS) {
    const int64_t rows = row_end - row < PLAIN_ROWS ? row_end - row : PLAIN_ROWS;
    memset(c, 0, sizeof c);
    for (int64_t k0 = 0; k0 < mm->k; k0 += QK) {
      const int64_t kc = mm->k - k0 < QK ? mm->k - k0 : QK;
      for (int b = 0; b < TILE_BLOCKS; b++) {
        const uint8_t* block = w + b * block_stride + k0 / QK * BLOCK_BYTES;
        const uint8_t* q = values_of(block);
        for (int64_t i = 0; i < kc; i++) {
          for (int j = 0; j < COLUMNS; j++) {
            const uint8_t pair = q[i / 2 * COLUMNS + j];
            uf[i * 64 + COLUMNS * b + j] = (float)(i % 2 == 0 ? pair & 0x0f : pair >> 4);
          }
        }
        for (int j = 0; j < COLUMNS; j++) {
          d[COLUMNS * b + j] = llava_from_f16(steps_of(block)[j]);
          m[COLUMNS * b + j] = llava_from_f16(minimums_of(block)[j]);
        }
      }
      memset(part, 0, sizeof part);
      for (int64_t r = 0; r < rows; r++) {
        const float* x = mm->x + (row + r) * mm->k + k0;
        for (int64_t i = 0; i < kc; i++) {
          const float xv = x[i];
          for (int j = 0; j < 64; j++) {
            part[r * 64 + j] += xv * uf[i * 64 + j];
          }
        }
      }
      for (int64_t r = 0; r < rows; r++) {
        const float xs = mm->xs[(row + r) * mm->kb + k0 / QK];
        for (int j = 0; j < 64; j++) {
          c[r * 64 + j] += part[r * 64 + j] * d[j];
          c[r * 64 + j] += xs * m[j];
        }
      }
    }
    put(mm, row, rows, col0, 64, c);
  }
}

/* One task: a tile of 64 columns for a block of up to ROW_BLOCK rows. */
static void run_task(void* arg, int64_t task) {
  const MatMul* mm = (const MatMul*)arg;
  const int64_t tiles = mm->nb / TILE_BLOCKS;
  const int64_t tile = task % tiles;
  const int64_t row_begin = task / tiles * ROW_BLOCK;
  const int64_t row_end = row_begin + ROW_BLOCK < mm->m ? row_begin + ROW_BLOCK : mm->m;
  switch (mm->path) {
    case WITH_AVX512:
      tile_avx512(mm, tile, row_begin, row_end);
      break;
    case WITH_AVX2:
      tile_avx2(mm, tile, row_begin, row_end);
      break;
    default:
      tile_plain(mm, tile, row_begin, row_end);
      break;
  }
}

/* ---- int8 activations: integer dot products on a panel packed per task (int8_dot.c) ---- */

/* The tile's four column blocks as a panel of the integer kernels' layout: values 0..15 in the
 * int4 order, steps as the panel's scales and minimums as its minimums. */
static void pack_panel(const void* weights, int64_t tile, LlavaDotPanel* p) {
  const MatMul* mm = (const MatMul*)weights;
  const int64_t block_stride = mm->kb * BLOCK_BYTES;
  for (int64_t j = 0; j < mm->kb; j++) {
    for (int b = 0; b < TILE_BLOCKS; b++) {
      llava_dot_panel_put_q4(
          p, j, COLUMNS * b, mm->w + (tile * TILE_BLOCKS + b) * block_stride + j * BLOCK_BYTES);
    }
  }
}

static void destroy(void* kernel) { free(kernel); }

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* kern = (const Kernel*)kernel;
  LlavaMatMulIo io;
  float* xs = NULL;
  if (llava_matmul_begin(ctx, &io, 3, BLOCK_BYTES, OP_NAME, "[NB, KB, 320]")) {
    const int64_t nb = TF_Dim(io.w, 0);
    const int64_t kb = TF_Dim(io.w, 1);
    if (!llava_matmul_output(ctx, &io, kb, (io.k + QK - 1) / QK, nb, kern->n, COLUMNS,
                             TILE_BLOCKS, OP_NAME, "320")) {
      /* the failure is reported */
    } else {
      pthread_once(&path_once, choose_path);
      MatMul mm = {.x = TF_TensorData(io.x),
                   .w = TF_TensorData(io.w),
                   .y = TF_TensorData(io.y),
                   .m = io.m,
                   .k = io.k,
                   .kb = kb,
                   .nb = nb,
                   .n = kern->n,
                   .path = kern->path >= 0 && kern->path < best_path ? kern->path : best_path};
      const int int8_path = llava_int8_path(kern->int8_path);
      if (kern->int8_rows > 0 && io.m >= kern->int8_rows) {
        if (!llava_dot_blocks(int8_path, mm.x, mm.m, mm.k, kb, mm.w, BLOCK_BYTES, nb / TILE_BLOCKS,
                              mm.y, mm.n, 1, kern->num_threads, pack_panel, &mm)) {
          llava_fail(ctx, io.status, TF_RESOURCE_EXHAUSTED_CODE,
                     OP_NAME ": out of memory for the int8 activations");
        }
      } else if ((xs = malloc((size_t)(io.m * kb) * sizeof(float))) == NULL) {
        llava_fail(ctx, io.status, TF_RESOURCE_EXHAUSTED_CODE,
                   OP_NAME ": out of memory for block sums");
      } else {
        for (int64_t r = 0; r < io.m; r++) {
          block_sums(mm.x + r * io.k, io.k, xs + r * kb);
        }
        mm.xs = xs;
        const int64_t row_blocks = (io.m + ROW_BLOCK - 1) / ROW_BLOCK;
        llava_parallel_for(row_blocks * (nb / TILE_BLOCKS), kern->num_threads, run_task, &mm);
      }
    }
  }
  free(xs);
  llava_matmul_end(&io);
}

__attribute__((constructor)) static void register_op(void) {
  static const char* const inputs[] = {"x: float", "w: uint8"};
  static const char* const outputs[] = {"y: float"};
  static const char* const attrs[] = {"n: int", "path: int = -1", "int8_rows: int = 0",
                                      "int8_path: int = -1"};
  const LlavaOpSpec spec = {.name = OP_NAME,
                            .inputs = inputs,
                            .n_inputs = 2,
                            .outputs = outputs,
                            .n_outputs = 1,
                            .attrs = attrs,
                            .n_attrs = 4,
                            .create = llava_matmul_attrs_create,
                            .compute = compute,
                            .destroy = destroy};
  llava_register_op(&spec);
}
