/*
 * The body of the column-block matmuls, LlavaF16MatMul (f16_matmul.c), LlavaBf16ColumnMatMul
 * (bf16_column_matmul.c) and LlavaF32MatMul (f32_matmul.c): y = x @ W for a Linear layer whose
 * weight was packed once at load time in column blocks that stream well. Each of those files
 * defines the weight's element and how to load it, then includes this once; the kernels share
 * every loop, so their results differ only by the weights' values.
 *
 * Inputs:
 *   x   float [M, K]
 *   w   WEIGHT_T [NB, K, 16]   NB = ceil(N / 64) * 4 column blocks of 16: w[b, k, c] =
 *                              W[k, 16b + c], zero past N. One k of one block is 16 contiguous
 *                              weights (one AVX-512 vector in float32); a block is K-major.
 * Output:
 *   y   float [M, n]
 * Attrs:
 *   n            int   output columns (N)
 *   num_threads  int   worker threads for one call (the calling thread included)
 *   path         int   -1: the best this CPU has; 0 plain, 1 AVX2 + F16C + FMA, 2 AVX-512F: at most
 *                      this one
 *
 * A task is 64 columns (4 blocks) of up to ROW_BLOCK rows, a micro-kernel a group of a few rows
 * by 32 (AVX2) or 64 (AVX-512) columns. With few rows (decoding) each row group loads the weight
 * straight from its packed blocks into registers (widening float16 there), so the weight streams
 * from memory once. With more rows than one micro-kernel takes, the AVX-512 path goes K a panel
 * at a time (the task's columns for PANEL_BYTES of ks in float32, which stay in L1 for every row
 * group) and, for 16-bit weights (COPY_PANEL), widens each panel once into an L1-sized float32
 * buffer that every row group reuses, as a float32 GEMM would (on Intel cores vcvtph2ps shares a
 * port with the FMAs); float32 weights are read from their blocks, a copy being only a 512-bit
 * store per load (two cycles each on AMD Zen 4: 9% of a 32-row decode step there). Each row
 * group's panel sums are added into y in registers where the tile's 64 columns exist. The AVX2
 * path keeps loading from the blocks, which measured as fast on AMD Zen 3 (see tile_avx2), and the
 * plain path always copies a panel. Every product and sum is float32.
 *
 * The including file defines, before including this:
 *   OP_NAME       the op's name
 *   WEIGHT_T      the packed weight's C element type
 *   WEIGHT_TYPE   the weight input's TensorFlow type in the op's registration ("half",
 *                 "bfloat16", "float")
 *   LOAD_8(p)     8 weights at p as an __m256 (compiled for AVX2 + F16C + FMA)
 *   AVX2_HALF(p, h)       optional: half h (0 or 1) of the 16 weights at p (one k of a block) as
 *                         an __m256, the halves splitting the columns in any fixed way; by
 *                         default LOAD_8(p + 8 * h), columns 0-7 and 8-15
 *   AVX2_ORDER(a, b, out) with AVX2_HALF: stores the 16 columns' sums that a (half 0) and b
 *                         (half 1) hold at out in column order
 *   LOAD_16(p)    16 weights at p as an __m512 (compiled for AVX-512F)
 *   LOAD_1(v)     one weight v as a float
 *   COPY_PANEL    1 to widen each panel once into a float32 buffer when many rows share it
 *                 (the 16-bit weights)
 */
#ifndef LLAVA_COLUMN_BLOCK_MATMUL_H_
#define LLAVA_COLUMN_BLOCK_MATMUL_H_

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define TILE_BLOCKS 4 /* column blocks of 16 per task: 64 columns */
#define ROW_BLOCK 256 /* rows per task, so a task's share of x stays in L2 */
#define PANEL_BYTES (16 * 1024) /* a float32 weight panel, to stay in L1 */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f")))
#define AVX2_ROWS 3   /* rows x 32 columns: 12 accumulators of the 16 ymm registers */
#define AVX512_ROWS 4 /* rows x 64 columns: 16 accumulators of the 32 zmm registers */
#define PLAIN_ROWS 4

enum { PLAIN = 0, WITH_AVX2 = 1, WITH_AVX512 = 2 };

#ifndef AVX2_HALF
#define AVX2_HALF(p, h) LOAD_8((p) + 8 * (h))
#define AVX2_ORDER(a, b, out)         \
  do {                                \
    _mm256_storeu_ps((out), (a));     \
    _mm256_storeu_ps((out) + 8, (b)); \
  } while (0)
#endif

typedef struct {
  const float* x;    /* [M, K] */
  const WEIGHT_T* w; /* [NB, K, 16] */
  float* y;          /* [M, n] */
  int64_t m, k, nb, n;
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


/*
 * Writes (or, past the first K panel, adds) a row group's results c [rows, width] into y at
 * (row, col0), the columns past n left out.
 */
static void put(const MatMul* mm, int64_t row, int64_t rows, int64_t col0, int64_t width,
                const float* c, int add) {
  const int64_t cols = mm->n - col0 < width ? mm->n - col0 : width;
  for (int64_t r = 0; r < rows; r++) {
    float* y = mm->y + (row + r) * mm->n + col0;
    const float* src = c + r * width;
    if (add) {
      for (int64_t j = 0; j < cols; j++) {
        y[j] += src[j];
      }
    } else {
      memcpy(y, src, (size_t)cols * sizeof(float));
    }
  }
}

/* ---- AVX2: 32 columns (two blocks, four ymm) by up to AVX2_ROWS rows ---- */

/*
 * c [R, 32] = x [R, kc] (rows ldx apart) @ two blocks of wh (block_stride apart), loaded into
 * registers. x first, then one weight vector at a time: 3 x 4 accumulators, 3 x and 1 w fill the
 * 16 ymm registers without a spill.
 */
#define DEFINE_AVX2(R)                                                                            \
  AVX2 static void avx2_rows_##R(const float* x, int64_t ldx, const WEIGHT_T* wh,                 \
                                 int64_t block_stride, int64_t kc, float* c) {                    \
    __m256 acc[R][4];                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        acc[r][j] = _mm256_setzero_ps();                                                          \
      }                                                                                           \
    }                                                                                             \
    for (int64_t k = 0; k < kc; k++) {                                                            \
      __m256 xv[R];                                                                               \
      for (int r = 0; r < R; r++) {                                                               \
        xv[r] = _mm256_broadcast_ss(x + r * ldx + k);                                             \
      }                                                                                           \
      for (int j = 0; j < 4; j++) {                                                               \
        const __m256 wv = AVX2_HALF(wh + (j >> 1) * block_stride + k * 16, j & 1);                \
        for (int r = 0; r < R; r++) {                                                             \
          acc[r][j] = _mm256_fmadd_ps(xv[r], wv, acc[r][j]);                                      \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int b = 0; b < 2; b++) {                                                               \
        AVX2_ORDER(acc[r][2 * b], acc[r][2 * b + 1], c + r * 32 + 16 * b);                        \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_AVX2(1)
DEFINE_AVX2(2)
DEFINE_AVX2(3)

/*
 * A lone row (a single sequence's decode step): the tile's four column blocks in one pass, eight
 * accumulators and four streams, each column's sum avx2_rows_1's in the same order (the same bits).
 * Measured on AMD Zen 3 (the bench preset's 33 float16 decode matmuls on 2 threads, alone, ten
 * alternating runs), a median 13.7 against 14.4 ms a step, faster in eight of the ten pairs; in
 * `bench --batch-sizes 1,1` (six alternating pairs, float16) single-stream decode averaged 58.0
 * against 56.0 tok/s, within those runs' spread (38.6-70.7 and 43.4-64.4).
 */
AVX2 static void avx2_row_tile(const MatMul* mm, int64_t tile, int64_t row) {
  const int64_t block_stride = mm->k * 16;
  const WEIGHT_T* wh = mm->w + tile * TILE_BLOCKS * block_stride;
  const float* x = mm->x + row * mm->k;
  __m256 acc[2 * TILE_BLOCKS];
  for (int j = 0; j < 2 * TILE_BLOCKS; j++) {
    acc[j] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < mm->k; k++) {
    const __m256 xv = _mm256_broadcast_ss(x + k);
    for (int j = 0; j < 2 * TILE_BLOCKS; j++) {
      const __m256 wv = AVX2_HALF(wh + (j >> 1) * block_stride + k * 16, j & 1);
      acc[j] = _mm256_fmadd_ps(xv, wv, acc[j]);
    }
  }
  float c[TILE_BLOCKS * 16];
  for (int b = 0; b < TILE_BLOCKS; b++) {
    AVX2_ORDER(acc[2 * b], acc[2 * b + 1], c + 16 * b);
  }
  put(mm, row, 1, tile * TILE_BLOCKS * 16, TILE_BLOCKS * 16, c, 0);
}

/*
 * Every row group loads the weight it reads from the blocks, however many rows: measured on AMD
 * Zen 3 (float16, 1 to 512 rows, the bench model's shapes), this ran 5-50% faster than widening
 * a panel once into an L1 buffer for the row groups to reuse, as 3 x 32 or as 6 x 16
 * micro-kernels.
 */
AVX2 static void tile_avx2(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  if (row_end - row_begin == 1) {
    avx2_row_tile(mm, tile, row_begin);
    return;
  }
  float c[AVX2_ROWS * 32];
  const int64_t block_stride = mm->k * 16;
  for (int half = 0; half < 2; half++) {
    const int64_t block = tile * TILE_BLOCKS + 2 * half;
    const int64_t col0 = block * 16;
    if (col0 >= mm->n) {
      break;
    }
    const WEIGHT_T* wh = mm->w + block * block_stride;
    for (int64_t row = row_begin; row < row_end; row += AVX2_ROWS) {
      const int64_t rows = row_end - row < AVX2_ROWS ? row_end - row : AVX2_ROWS;
      const float* x = mm->x + row * mm->k;
      switch (rows) {
        case 3:
          avx2_rows_3(x, mm->k, wh, block_stride, mm->k, c);
          break;
        case 2:
          avx2_rows_2(x, mm->k, wh, block_stride, mm->k, c);
          break;
        default:
          avx2_rows_1(x, mm->k, wh, block_stride, mm->k, c);
          break;
      }
      put(mm, row, rows, col0, 32, c, 0);
    }
  }
}

/* ---- AVX-512: 64 columns (four blocks, four zmm) by up to AVX512_ROWS rows ---- */

#define AVX512_PANEL_K (PANEL_BYTES / (64 * 4))

/*
 * wf [kc, 64] float32 panel, or NULL to load wh (four blocks block_stride apart) into registers.
 * The R x 64 sums go to c (rows ldc apart), or are added to what c holds with add: the same
 * float32 additions put makes, done in registers where the tile's 64 columns all exist.
 */
#define DEFINE_AVX512(R)                                                                          \
  AVX512 static void avx512_rows_##R(const float* x, int64_t ldx, const WEIGHT_T* wh,             \
                                     int64_t block_stride, const float* wf, int64_t kc,           \
                                     float* c, int64_t ldc, int add) {                            \
    __m512 acc[R][4];                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        acc[r][j] = _mm512_setzero_ps();                                                          \
      }                                                                                           \
    }                                                                                             \
    if (wf != NULL) {                                                                             \
      for (int64_t k = 0; k < kc; k++) {                                                          \
        __m512 wv[4];                                                                             \
        for (int j = 0; j < 4; j++) {                                                             \
          wv[j] = _mm512_load_ps(wf + k * 64 + 16 * j);                                           \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          const __m512 xv = _mm512_set1_ps(x[r * ldx + k]);                                       \
          for (int j = 0; j < 4; j++) {                                                           \
            acc[r][j] = _mm512_fmadd_ps(xv, wv[j], acc[r][j]);                                    \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    } else {                                                                                      \
      for (int64_t k = 0; k < kc; k++) {                                                          \
        __m512 wv[4];                                                                             \
        for (int j = 0; j < 4; j++) {                                                             \
          wv[j] = LOAD_16(wh + j * block_stride + k * 16);                                        \
        }                                                                                         \
        for (int r = 0; r < R; r++) {                                                             \
          const __m512 xv = _mm512_set1_ps(x[r * ldx + k]);                                       \
          for (int j = 0; j < 4; j++) {                                                           \
            acc[r][j] = _mm512_fmadd_ps(xv, wv[j], acc[r][j]);                                    \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < 4; j++) {                                                               \
        float* out = c + r * ldc + 16 * j;                                                        \
        _mm512_storeu_ps(out, add ? _mm512_add_ps(_mm512_loadu_ps(out), acc[r][j]) : acc[r][j]);  \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_AVX512(1)
DEFINE_AVX512(2)
DEFINE_AVX512(3)
DEFINE_AVX512(4)

/* Copies kc ks of four blocks (block_stride apart) into wf [kc, 64], in float32. */
AVX512 static void avx512_panel(const WEIGHT_T* wh, int64_t block_stride, int64_t kc, float* wf) {
  for (int64_t k = 0; k < kc; k++) {
    for (int b = 0; b < 4; b++) {
      _mm512_store_ps(wf + k * 64 + 16 * b, LOAD_16(wh + b * block_stride + k * 16));
    }
  }
}

AVX512 static void tile_avx512(const MatMul* mm, int64_t tile, int64_t row_begin,
                               int64_t row_end) {
  float panel[COPY_PANEL ? AVX512_PANEL_K * 64 : 16] __attribute__((aligned(64)));
  float c[AVX512_ROWS * 64];
  const int many_rows = row_end - row_begin > AVX512_ROWS;
  const int buffered = COPY_PANEL && many_rows;
  const int64_t block_stride = mm->k * 16;
  /*
   * K goes panel by panel whether or not the panel is buffered: a row's sum is then the same
   * partial sums added in the same order however many rows share the step, so batching does not
   * change a sequence's logits.
   */
  const int64_t chunk = AVX512_PANEL_K;
  const int64_t col0 = tile * TILE_BLOCKS * 16;
  const WEIGHT_T* wh = mm->w + tile * TILE_BLOCKS * block_stride;
  /* A whole tile's sums go straight into y; the last tile's, past n, through c. */
  const int whole = col0 + 64 <= mm->n;
  for (int64_t k0 = 0; k0 < mm->k; k0 += chunk) {
    const int64_t kc = mm->k - k0 < chunk ? mm->k - k0 : chunk;
    if (buffered) {
      avx512_panel(wh + k0 * 16, block_stride, kc, panel);
    }
    const float* wf = buffered ? panel : NULL;
    /*
     * With many rows, a panel's first reads (its copy, or the row group that loads it from the
     * blocks) wait on memory unless it was asked for while the one before it was multiplied: the
     * row groups share out the next panel's lines (16 weights per k of each of the four
     * blocks), into L2.
     */
    const int64_t left = many_rows ? mm->k - k0 - kc : 0;
    const int64_t lines =
        ((left < chunk ? left : chunk) * 16 * (int64_t)sizeof(WEIGHT_T) + 63) / 64;
    const int64_t groups = (row_end - row_begin + AVX512_ROWS - 1) / AVX512_ROWS;
    const int64_t per_group = (lines + groups - 1) / groups;
    int64_t line = 0;
    for (int64_t row = row_begin; row < row_end; row += AVX512_ROWS) {
      const int64_t rows = row_end - row < AVX512_ROWS ? row_end - row : AVX512_ROWS;
      const float* x = mm->x + row * mm->k + k0;
      for (int64_t end = line + per_group < lines ? line + per_group : lines; line < end; line++) {
        for (int b = 0; b < 4; b++) {
          _mm_prefetch((const char*)(wh + b * block_stride + (k0 + chunk) * 16) + line * 64,
                       _MM_HINT_T1);
        }
      }
      float* out = whole ? mm->y + row * mm->n + col0 : c;
      const int64_t ld = whole ? mm->n : 64;
      const int add = whole && k0 > 0;
      switch (rows) {
        case 4:
          avx512_rows_4(x, mm->k, wh + k0 * 16, block_stride, wf, kc, out, ld, add);
          break;
        case 3:
          avx512_rows_3(x, mm->k, wh + k0 * 16, block_stride, wf, kc, out, ld, add);
          break;
        case 2:
          avx512_rows_2(x, mm->k, wh + k0 * 16, block_stride, wf, kc, out, ld, add);
          break;
        default:
          avx512_rows_1(x, mm->k, wh + k0 * 16, block_stride, wf, kc, out, ld, add);
          break;
      }
      if (!whole) {
        put(mm, row, rows, col0, 64, c, k0 > 0);
      }
    }
  }
}

/* ---- Plain C: the same arithmetic, through a float32 panel ---- */

#define PLAIN_PANEL_K (PANEL_BYTES / (64 * 4))

static void tile_plain(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  float panel[PLAIN_PANEL_K * 64];
  float c[PLAIN_ROWS * 64];
  const int64_t block_stride = mm->k * 16;
  const int64_t col0 = tile * TILE_BLOCKS * 16;
  const WEIGHT_T* wh = mm->w + tile * TILE_BLOCKS * block_stride;
  for (int64_t k0 = 0; k0 < mm->k; k0 += PLAIN_PANEL_K) {
    const int64_t kc = mm->k - k0 < PLAIN_PANEL_K ? mm->k - k0 : PLAIN_PANEL_K;
    for (int64_t k = 0; k < kc; k++) {
      for (int b = 0; b < TILE_BLOCKS; b++) {
        for (int j = 0; j < 16; j++) {
          panel[k * 64 + 16 * b + j] = LOAD_1(wh[b * block_stride + (k0 + k) * 16 + j]);
        }
      }
    }
    for (int64_t row = row_begin; row < row_end; row += PLAIN_ROWS) {
      const int64_t rows = row_end - row < PLAIN_ROWS ? row_end - row : PLAIN_ROWS;
      for (int64_t r = 0; r < rows; r++) {
        const float* x = mm->x + (row + r) * mm->k + k0;
        float* acc = c + r * 64;
        for (int j = 0; j < 64; j++) {
          acc[j] = 0.0f;
        }
        for (int64_t k = 0; k < kc; k++) {
          const float xv = x[k];
          for (int j = 0; j < 64; j++) {
            acc[j] += xv * panel[k * 64 + j];
          }
        }
      }
      put(mm, row, rows, col0, 64, c, k0 > 0);
    }
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

static void destroy(void* kernel) { free(kernel); }

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* kern = (const Kernel*)kernel;
  LlavaMatMulIo io;
  if (llava_matmul_begin(ctx, &io, 3, 16, OP_NAME, "[NB, K, 16]")) {
    const int64_t nb = TF_Dim(io.w, 0);
    if (llava_matmul_output(ctx, &io, TF_Dim(io.w, 1), io.k, nb, kern->n, 16, TILE_BLOCKS, OP_NAME,
                            "16")) {
      pthread_once(&path_once, choose_path);
      MatMul mm = {.x = TF_TensorData(io.x),
                   .w = TF_TensorData(io.w),
                   .y = TF_TensorData(io.y),
                   .m = io.m,
                   .k = io.k,
                   .nb = nb,
                   .n = kern->n,
                   .path = kern->path >= 0 && kern->path < best_path ? kern->path : best_path};
      const int64_t row_blocks = (io.m + ROW_BLOCK - 1) / ROW_BLOCK;
      llava_parallel_for(row_blocks * (nb / TILE_BLOCKS), kern->num_threads, run_task, &mm);
    }
  }
  llava_matmul_end(&io);
}

__attribute__((constructor)) static void register_op(void) {
  static const char* const inputs[] = {"x: float", "w: " WEIGHT_TYPE};
  static const char* const outputs[] = {"y: float"};
  static const char* const attrs[] = {"n: int", "path: int = -1"};
  const LlavaOpSpec spec = {.name = OP_NAME,
                            .inputs = inputs,
                            .n_inputs = 2,
                            .outputs = outputs,
                            .n_outputs = 1,
                            .attrs = attrs,
                            .n_attrs = 2,
                            .create = llava_matmul_attrs_create,
                            .compute = compute,
                            .destroy = destroy};
  llava_register_op(&spec);
}

#endif /* LLAVA_COLUMN_BLOCK_MATMUL_H_ */
