/*
 * LlavaQ8MatMul: y = x @ W for a Linear layer whose weight was quantized at load time to int8 as
 * llama.cpp's Q8_0 (blocks of 32 along the input, one scale per block: W ~ q * s with
 * s = max |W| / 127 over the block and q = round(W / s) in [-127, 127]), here with float32 scales.
 *
 * Decoding is bound by the bytes of weight read per step: 1.125 bytes a weight here against 2 for
 * float16 and 4 for float32. The weight is dequantized in registers (int8 -> int32 -> float32) and
 * multiplied with the float32 activations (in calls of fewer than int8_rows rows; larger ones go
 * through int8_dot.c with int8 activations, see int8_rows below): for each Q8 block the products
 * x_i * q_i are summed in float32 and the sum times the block's scale is added to the column's
 * float32 accumulator, y = sum over blocks of s * (sum over the block of x_i * q_i). That is
 * float32 arithmetic on the dequantized weights q * s up to rounding (the order of summation, and
 * the scale applied to a block's sum rather than to each weight), and one multiply per weight
 * fewer than scaling each weight, which measured 1.5 times as fast on AVX2 for one row.
 *
 * Inputs:
 *   x   float [M, K]
 *   w   uint8 [NB, KB, 576]   NB = ceil(N / 64) * 4 column blocks of 16, KB = ceil(K / 32) blocks
 *                             of 32 inputs. w[b, j] is one Q8 block of 16 columns by 32 inputs:
 *                             16 float32 scales s[c] (64 bytes, little-endian), then q[32][16],
 *                             int8 in two's complement (TensorFlow Java has no int8 tensors):
 *                             W[32j + i, 16b + c] ~ q[i][c] * s[c], zero past K and N. A column
 *                             block's Q8 blocks follow each other in input order, so a block of
 *                             columns streams from memory in one pass; one input's 16 columns are
 *                             16 contiguous bytes (two AVX2 vectors, one AVX-512 vector once
 *                             widened); a Q8 block is 9 cache lines, its scales the first.
 * Output:
 *   y   float [M, n]
 * Attrs:
 *   n            int   output columns (N)
 *   num_threads  int   worker threads for one call (the calling thread included)
 *   path         int   -1: the best this CPU has; 0 plain, 1 AVX2 + FMA, 2 AVX-512F: at most this
 *                      one
 *   int8_rows    int   0 (default): float32 activations always; else calls of at least this many
 *                      rows quantize x to int8 and take integer dot products: calls of up to
 *                      LLAVA_DOT_IN_PLACE_MAX_ROWS rows against the Q8 blocks in place where the
 *                      CPU has AVX-512 VNNI and VBMI, the others on panels packed per task
 *                      (int8_dot.c)
 *   int8_path    int   -1: the best integer path; 0 plain, 1 AVX2, 2 AVX-VNNI, 3 AVX-512 VNNI
 *
 * A task is 64 columns (4 column blocks) of up to ROW_BLOCK rows, a micro-kernel a group of a few
 * rows by 32 (AVX2) or 64 (AVX-512) columns, and every row group dequantizes the weight it reads
 * in registers, however many rows: measured on AMD Zen 5 (AVX-512 and AVX2 paths, 4 to 256 rows,
 * the bench model's shapes) this ran as fast or faster than dequantizing a panel of the weight
 * once into an L1 buffer for the row groups to reuse (2.5 times as fast at 8 rows). With one row
 * (decoding) the weight streams from memory once. The plain path widens each Q8 block's int8 values
 * once per row group and does the same arithmetic.
 *
 * int4 weights (llama.cpp's Q4_1 blocks) have their own op and layout in q4_matmul.c.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "int8_dot.h"
#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define OP_NAME "LlavaQ8MatMul"
#define COLUMNS 16                               /* columns of one column block */
#define QK 32                                    /* inputs per scale */
#define SCALE_BYTES (COLUMNS * 4)                /* a Q8 block's scales */
#define BLOCK_BYTES (SCALE_BYTES + QK * COLUMNS) /* a Q8 block: 576 */
#define TILE_BLOCKS 4                            /* column blocks per task: 64 columns */
#define ROW_BLOCK 256                            /* rows per task, so a task's x stays in L2 */

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f")))
#define AVX2_ROWS 3   /* rows x 32 columns: 12 block sums of the 16 ymm registers */
#define AVX512_ROWS 4 /* rows x 64 columns: 16 block sums of the 32 zmm registers */
#define PLAIN_ROWS 4

enum { PLAIN = 0, WITH_AVX2 = 1, WITH_AVX512 = 2 };

typedef struct {
  const float* x;   /* [M, K] */
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
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    best_path = WITH_AVX2;
  } else {
    best_path = PLAIN;
  }
}

/* The scales of a Q8 block, little-endian float32 as the host stores them (x86-64). */
static inline const float* scales_of(const uint8_t* block) { return (const float*)block; }

/* The int8 values of a Q8 block, [QK][COLUMNS]. */
static inline const int8_t* values_of(const uint8_t* block) {
  return (const int8_t*)(block + SCALE_BYTES);
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

/* Eight int8 values of one input, widened to float32. */
AVX2 static inline __m256 avx2_widen(const int8_t* q) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)q)));
}

/*
 * c [R, 32] = x [R, K] (rows ldx apart) @ two column blocks of w (block_stride apart), Q8 block by
 * Q8 block: the block's products summed in part, then part times the scales added to acc. acc is
 * touched once per 32 inputs, so where the compiler keeps it in memory to free registers for part
 * it costs little.
 */
#define DEFINE_AVX2(R)                                                                            \
  AVX2 static void avx2_rows_##R(const float* x, int64_t ldx, const uint8_t* w,                   \
                                 int64_t block_stride, int64_t k, float* c) {                     \
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
      for (int64_t i = 0; i < kc; i++) {                                                          \
        __m256 xv[R];                                                                             \
        for (int r = 0; r < R; r++) {                                                             \
          xv[r] = _mm256_broadcast_ss(x + r * ldx + k0 + i);                                      \
        }                                                                                         \
        for (int j = 0; j < 4; j++) {                                                             \
          const __m256 wv = avx2_widen(values_of(blocks[j >> 1]) + i * COLUMNS + 8 * (j & 1));    \
          for (int r = 0; r < R; r++) {                                                           \
            part[r][j] = _mm256_fmadd_ps(xv[r], wv, part[r][j]);                                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int j = 0; j < 4; j++) {                                                               \
        const __m256 s = _mm256_loadu_ps(scales_of(blocks[j >> 1]) + 8 * (j & 1));                \
        for (int r = 0; r < R; r++) {                                                             \
          acc[r][j] = _mm256_fmadd_ps(part[r][j], s, acc[r][j]);                                  \
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

/*
 * A lone row (a single sequence's decode step): the tile's four column blocks in one pass, eight
 * accumulators and four streams, so that each input brings 64 bytes of weights where a pass over
 * two blocks brought 32. Each column's sums are avx2_rows_1's, in the same order: the same bits.
 * Measured on AMD Zen 3 (the bench preset's 33 decode matmuls on 2 threads, alone, five alternating
 * runs): 7.2-8.6 against 8.2-10.0 ms a step (a pass over two blocks streamed its weights at about
 * 14 GB/s against the memory probe's 21-27, too few loads in flight to cover the memory's latency);
 * in `bench --quantization int8 --batch-sizes 1,1`, three alternating pairs, 67-85 against 68-77
 * decode tok/s.
 */
AVX2 static void avx2_row_tile(const MatMul* mm, int64_t tile, int64_t row) {
  const int64_t block_stride = mm->kb * BLOCK_BYTES;
  const uint8_t* w = mm->w + tile * TILE_BLOCKS * block_stride;
  const float* x = mm->x + row * mm->k;
  __m256 acc[8];
  for (int j = 0; j < 8; j++) {
    acc[j] = _mm256_setzero_ps();
  }
  for (int64_t k0 = 0; k0 < mm->k; k0 += QK) {
    const uint8_t* blocks[TILE_BLOCKS];
    for (int b = 0; b < TILE_BLOCKS; b++) {
      blocks[b] = w + b * block_stride + k0 / QK * BLOCK_BYTES;
    }
    const int64_t kc = mm->k - k0 < QK ? mm->k - k0 : QK;
    __m256 part[8];
    for (int j = 0; j < 8; j++) {
      part[j] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < kc; i++) {
      const __m256 xv = _mm256_broadcast_ss(x + k0 + i);
      for (int j = 0; j < 8; j++) {
        const __m256 wv = avx2_widen(values_of(blocks[j >> 1]) + i * COLUMNS + 8 * (j & 1));
        part[j] = _mm256_fmadd_ps(xv, wv, part[j]);
      }
    }
    for (int j = 0; j < 8; j++) {
      const __m256 s = _mm256_loadu_ps(scales_of(blocks[j >> 1]) + 8 * (j & 1));
      acc[j] = _mm256_fmadd_ps(part[j], s, acc[j]);
    }
  }
  float c[TILE_BLOCKS * COLUMNS];
  for (int j = 0; j < 8; j++) {
    _mm256_storeu_ps(c + 8 * j, acc[j]);
  }
  put(mm, row, 1, tile * TILE_BLOCKS * COLUMNS, TILE_BLOCKS * COLUMNS, c);
}

AVX2 static void tile_avx2(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  if (row_end - row_begin == 1) {
    avx2_row_tile(mm, tile, row_begin);
    return;
  }
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
      switch (rows) {
        case 3:
          avx2_rows_3(x, mm->k, w, block_stride, mm->k, c);
          break;
        case 2:
          avx2_rows_2(x, mm->k, w, block_stride, mm->k, c);
          break;
        default:
          avx2_rows_1(x, mm->k, w, block_stride, mm->k, c);
          break;
      }
      put(mm, row, rows, col0, 32, c);
    }
  }
}

/* ---- AVX-512: 64 columns (four column blocks, four zmm) by up to AVX512_ROWS rows ---- */

/* The 16 int8 values of one input of a column block, widened to float32. */
AVX512 static inline __m512 avx512_widen(const int8_t* q) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)q)));
}

/* c [R, 64] = x [R, K] (rows ldx apart) @ four column blocks of w, as avx2_rows. */
#define DEFINE_AVX512(R)                                                                          \
  AVX512 static void avx512_rows_##R(const float* x, int64_t ldx, const uint8_t* w,               \
                                     int64_t block_stride, int64_t k, float* c) {                 \
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
      for (int64_t i = 0; i < kc; i++) {                                                          \
        __m512 wv[4];                                                                             \
        for (int j = 0; j < 4; j++) {                                                             \
          wv[j] = avx512_widen(values_of(blocks[j]) + i * COLUMNS);                               \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          const __m512 xv = _mm512_set1_ps(x[r * ldx + k0 + i]);                                  \
          for (int j = 0; j < 4; j++) {                                                           \
            part[r][j] = _mm512_fmadd_ps(xv, wv[j], part[r][j]);                                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      for (int j = 0; j < 4; j++) {                                                               \
        const __m512 s = _mm512_loadu_ps(scales_of(blocks[j]));                                   \
        for (int r = 0; r < R; r++) {                                                             \
          acc[r][j] = _mm512_fmadd_ps(part[r][j], s, acc[r][j]);                                  \
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
    switch (rows) {
      case 4:
        avx512_rows_4(x, mm->k, w, block_stride, mm->k, c);
        break;
      case 3:
        avx512_rows_3(x, mm->k, w, block_stride, mm->k, c);
        break;
      case 2:
        avx512_rows_2(x, mm->k, w, block_stride, mm->k, c);
        break;
      default:
        avx512_rows_1(x, mm->k, w, block_stride, mm->k, c);
        break;
    }
    put(mm, row, rows, col0, 64, c);
  }
}

/* ---- Plain C: the same arithmetic, each Q8 block widened once per row group ---- */

static void tile_plain(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  float qf[QK * 64]; /* one Q8 block of each of the tile's column blocks, widened: [QK, 64] */
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
        const int8_t* q = values_of(w + b * block_stride + k0 / QK * BLOCK_BYTES);
        for (int64_t i = 0; i < kc; i++) {
          for (int j = 0; j < COLUMNS; j++) {
            qf[i * 64 + COLUMNS * b + j] = (float)q[i * COLUMNS + j];
          }
        }
      }
      memset(part, 0, sizeof part);
      for (int64_t r = 0; r < rows; r++) {
        const float* x = mm->x + (row + r) * mm->k + k0;
        for (int64_t i = 0; i < kc; i++) {
          const float xv = x[i];
          for (int j = 0; j < 64; j++) {
            part[r * 64 + j] += xv * qf[i * 64 + j];
          }
        }
      }
      for (int b = 0; b < TILE_BLOCKS; b++) {
        const float* s = scales_of(w + b * block_stride + k0 / QK * BLOCK_BYTES);
        for (int64_t r = 0; r < rows; r++) {
          for (int j = 0; j < COLUMNS; j++) {
            c[r * 64 + COLUMNS * b + j] += part[r * 64 + COLUMNS * b + j] * s[j];
          }
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

/* The tile's four column blocks as a panel of the integer kernels' layout. */
static void pack_panel(const void* weights, int64_t tile, LlavaDotPanel* p) {
  const MatMul* mm = (const MatMul*)weights;
  const int64_t block_stride = mm->kb * BLOCK_BYTES;
  for (int64_t j = 0; j < mm->kb; j++) {
    for (int b = 0; b < TILE_BLOCKS; b++) {
      const uint8_t* block = mm->w + (tile * TILE_BLOCKS + b) * block_stride + j * BLOCK_BYTES;
      memcpy(p->scale + j * LLAVA_DOT_COLUMNS + COLUMNS * b, scales_of(block), SCALE_BYTES);
      llava_dot_panel_put_block(p, j, COLUMNS * b, (const uint8_t*)values_of(block));
    }
  }
}

static void destroy(void* kernel) { free(kernel); }

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* kern = (const Kernel*)kernel;
  LlavaMatMulIo io;
  if (llava_matmul_begin(ctx, &io, 3, BLOCK_BYTES, OP_NAME, "[NB, KB, 576]")) {
    const int64_t nb = TF_Dim(io.w, 0);
    const int64_t kb = TF_Dim(io.w, 1);
    if (llava_matmul_output(ctx, &io, kb, (io.k + QK - 1) / QK, nb, kern->n, COLUMNS, TILE_BLOCKS,
                            OP_NAME, "576")) {
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
      const int64_t row_blocks = (io.m + ROW_BLOCK - 1) / ROW_BLOCK;
      const int64_t tasks = row_blocks * (nb / TILE_BLOCKS);
      const int int8_path = llava_int8_path(kern->int8_path);
      if (kern->int8_rows > 0 && io.m >= kern->int8_rows) {
        if (!llava_dot_blocks(int8_path, mm.x, mm.m, mm.k, kb, mm.w, BLOCK_BYTES, nb / TILE_BLOCKS,
                              mm.y, mm.n, 0, kern->num_threads, pack_panel, &mm)) {
          llava_fail(ctx, io.status, TF_RESOURCE_EXHAUSTED_CODE,
                     OP_NAME ": out of memory for the int8 activations");
        }
      } else {
        llava_parallel_for(tasks, kern->num_threads, run_task, &mm);
      }
    }
  }
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
