/*
 * LlavaBf16MatMul: y = x @ W for a Linear layer whose weight is stored in bfloat16, packed once at
 * load time in the layout the AVX512-BF16 dot-product instruction reads directly.
 *
 * TensorFlow's bfloat16 MatMul reorders the whole weight into oneDNN's blocked layout on every
 * call, which makes the few-row products of decoding cost about the same as 64-row ones. Packing
 * the weight once removes that: each call streams the packed weight once from memory.
 *
 * Inputs:
 *   x   float [M, K]
 *   w   bfloat16 [NB, KP, 16, 2]   NB = ceil(N / 64) * 4 column blocks of 16, KP = ceil(K / 32) * 16
 *                                  pairs: w[b, p, c, i] = W[2p + i, 16b + c], zero past K and N.
 *                                  16 pairs of one block are a 1 KiB AMX tile, and one pair of one
 *                                  block a 64-byte AVX-512 vector.
 * Output:
 *   y   float [M, n]
 * Attrs:
 *   n            int   output columns (N)
 *   num_threads  int   worker threads for one call (the calling thread included)
 *   path         int   -1: the best this CPU has; 0 plain, 1 AVX512-BF16, 2 AMX: at most this one
 *
 * x is rounded to bfloat16 (to nearest even) and products are summed in float32, as TensorFlow's
 * bfloat16 matmul does. Three paths, the best the CPU has: AMX tiles (Sapphire Rapids and later),
 * AVX512-BF16 dot products, or plain C with the same arithmetic.
 */
#include <cpuid.h>
#include <pthread.h>
#include <immintrin.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "op_registry.h"
#include "parallel.h"
#include "tf_kernel_api.h"

#define OP_NAME "LlavaBf16MatMul"
#define TILE_BLOCKS 4   /* column blocks of 16 per tile: 64 columns */
#define K_CHUNK 128     /* k pairs per pass over a tile, so the tile's weights stay in L1 */
#define ROWS 4          /* rows per micro-kernel call */
#define ROW_BLOCK 256   /* rows per task, so a task's share of x stays in L2 */

enum { PLAIN = 0, AVX512 = 1, AMX = 2 };

typedef struct {
  const uint32_t* xb; /* [ceil(M / 16) * 16, KP] bfloat16 pairs of x, zero rows past M */
  const uint16_t* w;  /* [NB, KP, 16, 2] */
  float* y;           /* [M, n] */
  int64_t m, kp, nb, n;
  int path;
} MatMul;

/* AMX needs the kernel's permission to use the tile registers, asked once per process. */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int best_path = -1;
static pthread_once_t path_once = PTHREAD_ONCE_INIT;

static void choose_path(void) {
  unsigned a, b, c, d;
  int amx = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22)) && (d & (1u << 24));
  if (amx && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
    best_path = AMX;
  } else if (__builtin_cpu_supports("avx512bf16")) {
    best_path = AVX512;
  } else {
    best_path = PLAIN;
  }
}

typedef struct {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} TileConfig;

/*
 * Two column blocks (32 columns) for all rows, 32 rows at a time: tiles 0-3 accumulate the
 * 2 x 2 blocks of 16 x 16 results, 4-5 hold x (16 rows x 16 pairs), 6-7 the weights (16 pairs x
 * 16 columns x 2).
 */
__attribute__((target("amx-tile,amx-bf16,avx512f"))) static void amx_block_pair(
    const MatMul* mm, int64_t pair, int64_t row_begin, int64_t row_end) {
  TileConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  float c[32 * 32] __attribute__((aligned(64)));
  const int64_t kp = mm->kp;
  const uint16_t* w0 = mm->w + 2 * pair * kp * 32;
  const uint16_t* w1 = w0 + kp * 32;
  const int64_t col0 = 2 * pair * 16;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += 32) {
    const uint32_t* a0 = mm->xb + r0 * kp;
    const int two = r0 + 16 < row_end;
    _tile_zero(0);
    _tile_zero(1);
    if (two) {
      const uint32_t* a1 = a0 + 16 * kp;
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t p = 0; p < kp; p += 16) {
        _tile_loadd(4, a0 + p, kp * 4);
        _tile_loadd(5, a1 + p, kp * 4);
        _tile_loadd(6, w0 + p * 32, 64);
        _tile_loadd(7, w1 + p * 32, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(2, c + 16 * 32, 128);
      _tile_stored(3, c + 16 * 32 + 16, 128);
    } else {
      for (int64_t p = 0; p < kp; p += 16) {
        _tile_loadd(4, a0 + p, kp * 4);
        _tile_loadd(6, w0 + p * 32, 64);
        _tile_loadd(7, w1 + p * 32, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
      }
    }
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    const int64_t rows = row_end - r0 < 32 ? row_end - r0 : 32;
    const int64_t cols = mm->n - col0 < 32 ? mm->n - col0 : 32;
    for (int64_t r = 0; r < rows; r++) {
      memcpy(mm->y + (r0 + r) * mm->n + col0, c + r * 32, (size_t)cols * sizeof(float));
    }
  }
  _tile_release();
}

typedef LlavaMatMulAttrs Kernel;

static inline uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
  }
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Columns of vector j of a tile that lie inside [0, n), as a lane mask. */
static inline uint16_t lanes(const MatMul* mm, int64_t tile, int j) {
  const int64_t first = (tile * TILE_BLOCKS + j) * 16;
  const int64_t valid = mm->n - first;
  return valid >= 16 ? 0xffffu : valid <= 0 ? 0 : (uint16_t)((1u << valid) - 1u);
}

#define DEFINE_TILE(R)                                                                            \
  __attribute__((target("avx512f,avx512bf16"))) static void tile_rows_##R(                       \
      const MatMul* mm, int64_t row, int64_t tile, int64_t p0, int64_t p1) {                      \
    __m512 acc[R][TILE_BLOCKS];                                                                   \
    __mmask16 mask[TILE_BLOCKS];                                                                  \
    for (int j = 0; j < TILE_BLOCKS; j++) {                                                       \
      mask[j] = lanes(mm, tile, j);                                                               \
    }                                                                                             \
    float* y = mm->y + row * mm->n + tile * TILE_BLOCKS * 16;                                     \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < TILE_BLOCKS; j++) {                                                     \
        acc[r][j] = p0 == 0 ? _mm512_setzero_ps()                                                 \
                            : _mm512_maskz_loadu_ps(mask[j], y + r * mm->n + 16 * j);             \
      }                                                                                           \
    }                                                                                             \
    const uint16_t* w = mm->w + tile * TILE_BLOCKS * mm->kp * 32;                                 \
    const uint32_t* x = mm->xb + row * mm->kp;                                                    \
    for (int64_t p = p0; p < p1; p++) {                                                           \
      __m512bh wv[TILE_BLOCKS];                                                                   \
      for (int j = 0; j < TILE_BLOCKS; j++) {                                                     \
        wv[j] = (__m512bh)_mm512_loadu_si512(w + (j * mm->kp + p) * 32);                          \
      }                                                                                           \
      for (int r = 0; r < R; r++) {                                                               \
        const __m512bh xv = (__m512bh)_mm512_set1_epi32((int)x[r * mm->kp + p]);                  \
        for (int j = 0; j < TILE_BLOCKS; j++) {                                                   \
          acc[r][j] = _mm512_dpbf16_ps(acc[r][j], xv, wv[j]);                                     \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
    for (int r = 0; r < R; r++) {                                                                 \
      for (int j = 0; j < TILE_BLOCKS; j++) {                                                     \
        _mm512_mask_storeu_ps(y + r * mm->n + 16 * j, mask[j], acc[r][j]);                        \
      }                                                                                           \
    }                                                                                             \
  }

DEFINE_TILE(1)
DEFINE_TILE(2)
DEFINE_TILE(3)
DEFINE_TILE(4)

/* The same arithmetic without AVX512-BF16. */
static void tile_plain(const MatMul* mm, int64_t tile, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; r++) {
    for (int j = 0; j < TILE_BLOCKS * 16; j++) {
      const int64_t col = tile * TILE_BLOCKS * 16 + j;
      if (col >= mm->n) {
        break;
      }
      const uint16_t* w = mm->w + ((col / 16) * mm->kp * 16 + col % 16) * 2;
      float acc = 0.0f;
      for (int64_t p = 0; p < mm->kp; p++) {
        const uint32_t pair = mm->xb[r * mm->kp + p];
        acc += from_bf16((uint16_t)(pair & 0xffffu)) * from_bf16(w[p * 32]) +
               from_bf16((uint16_t)(pair >> 16)) * from_bf16(w[p * 32 + 1]);
      }
      mm->y[r * mm->n + col] = acc;
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
  if (mm->path == AMX) {
    for (int64_t pair = tile * TILE_BLOCKS / 2; pair < (tile + 1) * TILE_BLOCKS / 2; pair++) {
      if (pair * 32 < mm->n) {
        amx_block_pair(mm, pair, row_begin, row_end);
      }
    }
    return;
  }
  if (mm->path == PLAIN) {
    tile_plain(mm, tile, row_begin, row_end);
    return;
  }
  for (int64_t p0 = 0; p0 < mm->kp; p0 += K_CHUNK) {
    const int64_t p1 = p0 + K_CHUNK < mm->kp ? p0 + K_CHUNK : mm->kp;
    int64_t row = row_begin;
    for (; row + ROWS <= row_end; row += ROWS) {
      tile_rows_4(mm, row, tile, p0, p1);
    }
    switch (row_end - row) {
      case 3:
        tile_rows_3(mm, row, tile, p0, p1);
        break;
      case 2:
        tile_rows_2(mm, row, tile, p0, p1);
        break;
      case 1:
        tile_rows_1(mm, row, tile, p0, p1);
        break;
      default:
        break;
    }
  }
}

static void destroy(void* kernel) { free(kernel); }

static void compute(void* kernel, TF_OpKernelContext* ctx) {
  const Kernel* kern = (const Kernel*)kernel;
  LlavaMatMulIo io;
  uint32_t* xb = NULL;
  if (llava_matmul_begin(ctx, &io, 4, 2, OP_NAME, "[NB, KP, 16, 2]")) {
    const int64_t nb = TF_Dim(io.w, 0);
    const int64_t kp = TF_Dim(io.w, 1);
    if (llava_matmul_output(ctx, &io, kp, (io.k + 31) / 32 * 16, nb, kern->n, 16, TILE_BLOCKS,
                            OP_NAME, "16, 2")) {
      pthread_once(&path_once, choose_path);
      const int64_t padded_rows = (io.m + 15) / 16 * 16;
      xb = calloc((size_t)(padded_rows * kp), sizeof(uint32_t));
      if (xb == NULL) {
        llava_fail(ctx, io.status, TF_INTERNAL_CODE, OP_NAME ": out of memory");
      } else {
        const float* xd = TF_TensorData(io.x);
        const int64_t k = io.k;
        for (int64_t r = 0; r < io.m; r++) {
          for (int64_t p = 0; 2 * p < k; p++) {
            const uint16_t lo = to_bf16(xd[r * k + 2 * p]);
            const uint16_t hi = 2 * p + 1 < k ? to_bf16(xd[r * k + 2 * p + 1]) : 0;
            xb[r * kp + p] = (uint32_t)lo | ((uint32_t)hi << 16);
          }
        }
        MatMul mm = {.xb = xb,
                     .w = TF_TensorData(io.w),
                     .y = TF_TensorData(io.y),
                     .m = io.m,
                     .kp = kp,
                     .nb = nb,
                     .n = kern->n,
                     .path = kern->path >= 0 && kern->path < best_path ? kern->path : best_path};
        const int64_t row_blocks = (io.m + ROW_BLOCK - 1) / ROW_BLOCK;
        llava_parallel_for(row_blocks * (nb / TILE_BLOCKS), kern->num_threads, run_task, &mm);
      }
    }
  }
  free(xb);
  llava_matmul_end(&io);
}

__attribute__((constructor)) static void register_op(void) {
  static const char* const inputs[] = {"x: float", "w: bfloat16"};
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
