/*
 * Integer dot products for the quantized weight matmuls: activations quantized per row to int8 in
 * blocks of 32 inputs (llama.cpp's Q8_0 for activations, s = max |x| / 127 over the block), times
 * a panel of 64 output columns of small-integer weights, summed in int32 per block and scaled in
 * float32 once per block.
 *
 * For a row r, a block j of 32 inputs and a column c, with xq the quantized activations, xs their
 * scale, sq = sum over the block of xq, and w the panel's integer weights:
 *
 *   y[r][c] = sum over j of xs[r][j] * (scale[j][c] * (sum of xq * w) + min[j][c] * sq)
 *
 * min is the block's minimum where weights are w * scale + min (int4, w unsigned), or absent (int8,
 * w signed). The VNNI instruction multiplies unsigned by signed bytes: with signed weights it takes
 * xq + 128 as the unsigned side and starts each block's sums at -128 times the column's sum of w,
 * kept with the panel.
 */
#ifndef LLAVA_INT8_DOT_H
#define LLAVA_INT8_DOT_H

#include <stdint.h>

#define LLAVA_DOT_QK 32      /* inputs per block */
#define LLAVA_DOT_COLUMNS 64 /* columns of one panel */
#define LLAVA_DOT_GROUPS 8   /* groups of 4 inputs per block */
/* One block of a panel's weights: [8 groups][64 columns][4 inputs]. */
#define LLAVA_DOT_BLOCK_BYTES (LLAVA_DOT_GROUPS * LLAVA_DOT_COLUMNS * 4)

/* The integer paths, lowest first; each one's code is compiled in, and runs where the CPU has it. */
enum { LLAVA_INT8_PLAIN = 0, LLAVA_INT8_AVX2 = 1, LLAVA_INT8_AVXVNNI = 2, LLAVA_INT8_AVX512 = 3 };

/* The best integer path of this CPU. */
int llava_int8_best_path(void);

/* The path to run: the best, or when limit >= 0 the highest path at most limit that this CPU runs. */
int llava_int8_path(int limit);

/* Rows of x quantized per block of 32: q [m, kb * 32] (zero past k), s [m, kb], sum [m, kb]. */
typedef struct {
  int8_t* q;
  float* s;
  int32_t* sum;
  int64_t m, kb;
} LlavaQuantRows;

/*
 * Quantizes x [m, k] on up to threads threads, with the vectors of integer path `path` (capped at
 * this CPU's best; every path gives the same bytes), into buffers the calling thread keeps for its
 * next call (so that a step's many matmuls do not fault in fresh pages each time): valid until
 * this thread quantizes again. With int4, q holds each 8 inputs in the int4 order (below).
 * Returns 0 when memory runs out.
 */
int llava_quant_rows(int path, const float* x, int64_t m, int64_t k, int int4, int threads,
                     LlavaQuantRows* out);

/* A panel of 64 columns by kb blocks, laid out for the integer kernels. */
typedef struct {
  uint8_t* w;      /* [kb][LLAVA_DOT_BLOCK_BYTES]: int8 values, or unsigned ones with min */
  float* scale;    /* [kb][64] */
  float* min;      /* [kb][64] with unsigned weights, else NULL */
  int32_t* bias;   /* [kb][64]: -128 times each column's sum of w over the block (signed) */
  int64_t kb;
  int path;        /* the integer path it is packed for */
} LlavaDotPanel;

/*
 * A panel for kb blocks of unsigned weights with a minimum (with_min) or signed ones, in buffers the
 * calling thread keeps for its next panel: valid until this thread asks for one again. Returns 0
 * when memory runs out.
 */
int llava_dot_panel_get(LlavaDotPanel* p, int64_t kb, int with_min);

/*
 * Writes one group of 4 inputs by 16 columns, given as 4 rows of 16 bytes (src, rows src_stride
 * apart), into block j of the panel at columns col0..col0+15.
 */
void llava_dot_panel_put(LlavaDotPanel* p, int64_t j, int group, int col0, const uint8_t* src,
                         int64_t src_stride);

/*
 * Writes a whole block of 32 inputs by 16 columns, given as 32 rows of 16 contiguous bytes, into
 * block j of the panel at columns col0..col0+15 (one byte permutation a group with AVX-512 VBMI on
 * the AVX-512 path).
 */
void llava_dot_panel_put_block(LlavaDotPanel* p, int64_t j, int col0, const uint8_t* src);

/*
 * Writes one Q4 block (the int4 layout of llava_dot_in_place: 16 float16 steps, 16 float16
 * minimums, 16 rows of pairs of inputs) into block j of an unsigned panel at columns
 * col0..col0+15: the steps as its scales, the minimums as its minimums, and the values in the
 * int4 order, each 8 inputs as 0, 2, 4, 6, 1, 3, 5, 7 (the low halves of four pairs, then their
 * high halves), against activations quantized in that order. The order changes no int32 sum.
 */
void llava_dot_panel_put_q4(LlavaDotPanel* p, int64_t j, int col0, const uint8_t* block);

/* Completes a panel whose every block was put, for path: the bias where the path needs it. */
void llava_dot_panel_finish(int path, LlavaDotPanel* p);

/* Most rows one call of llava_dot_rows takes. */
#define LLAVA_DOT_MAX_ROWS 6

/* c [rows, 64] = rows row..row+rows-1 of x times the panel, on path: rows <= the path's row group
 * (llava_dot_row_group). */
void llava_dot_rows(int path, const LlavaDotPanel* p, const LlavaQuantRows* x, int64_t row,
                    int rows, float* c);

/* Rows per call of llava_dot_rows that fill the path's registers; at most LLAVA_DOT_MAX_ROWS. */
int llava_dot_row_group(int path);

/* Fills panel p (from llava_dot_panel_get) with the 64 columns of tile, every block put. */
typedef void (*LlavaDotPack)(const void* weights, int64_t tile, LlavaDotPanel* p);

/*
 * y [m, n] = x [m, k] @ W on path, W given as tiles of 64 columns of kb blocks that pack lays out
 * (unsigned with a minimum and in the int4 order when with_min): x is quantized once, then each
 * task, a tile for up to 256 rows, packs its panel and multiplies it, on up to threads threads. w,
 * when not NULL, is where pack reads the tiles, tile_bytes apart: while a task multiplies its
 * panel it asks for the tile its thread likely packs next, so that the weights stream in from
 * memory behind the arithmetic. Returns 0 when memory runs out.
 */
int llava_dot_matmul(int path, const float* x, int64_t m, int64_t k, int64_t kb, int64_t tiles,
                     float* y, int64_t n, int with_min, int threads, LlavaDotPack pack,
                     const void* weights, const uint8_t* w, int64_t tile_bytes);

/* Calls of up to this many rows may read the weight blocks in place (llava_dot_in_place). */
#define LLAVA_DOT_IN_PLACE_MAX_ROWS 32

/* Whether a call of m rows on the integer path `path` reads the blocks in place: at most
 * LLAVA_DOT_IN_PLACE_MAX_ROWS rows, the AVX-512 VNNI path, and a CPU with AVX-512 VBMI. */
int llava_dot_in_place_takes(int path, int64_t m);

/*
 * y [m, n] = x [m, k] @ w with int8 activations, the weight blocks read as they are stored, no
 * panel packed: blocks of 16 columns by 32 inputs, kb per column block, block_bytes each, four
 * column blocks to a tile of 64 columns, each block a 64-byte head then its values, 16 bytes a row:
 *   int4 (Q4, 320 bytes): 16 float16 steps, 16 float16 minimums, then 16 rows of pairs of inputs,
 *        byte c holding column c's input 2p in its low four bits and 2p + 1 in its high four;
 *   int8 (Q8, 576 bytes): 16 float32 scales, then 32 rows of int8 values.
 * The int32 sums and the float32 arithmetic after them are those of the panels (llava_dot_matmul),
 * in the same order, so a row is the same bits either way. 0 when memory runs out. Only where
 * llava_dot_in_place_takes says so.
 */
int llava_dot_in_place(const float* x, int64_t m, int64_t k, int64_t kb, const uint8_t* w,
                       int64_t block_bytes, int64_t tiles, float* y, int64_t n, int int4,
                       int threads);

/*
 * y [m, n] = x [m, k] @ w with int8 activations, for the int8 (int4 = 0) and int4 (int4 = 1)
 * matmuls: the blocks read in place where llava_dot_in_place_takes says so, or, on the AVX2 path
 * with F16C, int4 calls of up to six rows (each byte's halves one column's pair of inputs, the
 * activations in input order); else on panels that pack writes from weights (llava_dot_matmul,
 * with_min = int4). The same bits every way. 0 when memory runs out.
 */
int llava_dot_blocks(int path, const float* x, int64_t m, int64_t k, int64_t kb, const uint8_t* w,
                     int64_t block_bytes, int64_t tiles, float* y, int64_t n, int int4, int threads,
                     LlavaDotPack pack, const void* weights);

#endif
