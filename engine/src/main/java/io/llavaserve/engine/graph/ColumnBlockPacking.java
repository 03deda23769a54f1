package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.HalfFloats;
import io.llavaserve.engine.checkpoint.WeightTensor;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.ndarray.buffer.ShortDataBuffer;

/**
 * A Linear weight laid out on the host for the native matmuls, straight from the checkpoint's [out,
 * in] rows. For the column-block kernels ({@code column_block_matmul.h}: {@code LlavaF16MatMul},
 * {@code LlavaBf16ColumnMatMul}, {@code LlavaF32MatMul}): {@code [ceil(out / 64) * 4, in, 16]}
 * elements, {@code w[b, k, c] = W[16b + c, k]}, zero past {@code out}. One input's 16 columns are
 * contiguous and a block of columns streams in input order.
 *
 * <p>float16 from a float16 checkpoint copies the stored bits; from float32 or bfloat16 each value
 * is rounded to the nearest float16 (ties to even, beyond float16's range to infinity), as
 * TensorFlow's cast rounds; bfloat16 column blocks ({@code LlavaBf16ColumnMatMul}) take a bfloat16
 * checkpoint's bits, others rounded to nearest even. float32 holds every float16, bfloat16 or
 * float32 value exactly. The native bfloat16 matmul's blocks ({@link #pairedShape}) interleave
 * pairs of inputs, and take bfloat16 values the same way (a bfloat16 checkpoint's bits, others
 * rounded to nearest even).
 */
final class ColumnBlockPacking {

  /** Columns of a column block. */
  static final int COLUMNS = 16;

  private ColumnBlockPacking() {}

  /** The packed shape of an [in, out] Linear weight. */
  static long[] shape(long in, long out) {
    return new long[] {(out + 63) / 64 * 4, in, COLUMNS};
  }

  /**
   * The packed shape of an [in, out] Linear weight for the native bfloat16 matmul ({@code
   * bf16_matmul.c}): {@code [ceil(out / 64) * 4, ceil(in / 32) * 16, 16, 2]}, {@code w[b, p, c, t]
   * = W[16b + c, 2p + t]}, zero past {@code out} and {@code in}: 16 columns times one pair of
   * inputs are 64 contiguous bytes, and 16 such pairs one AMX tile.
   */
  static long[] pairedShape(long in, long out) {
    return new long[] {(out + 63) / 64 * 4, (in + 31) / 32 * 16, COLUMNS, 2};
  }

  /** Packed elements of an [in, out] Linear weight for the bfloat16 matmul. */
  static long pairedElements(long in, long out) {
    long[] s = pairedShape(in, out);
    return s[0] * s[1] * s[2] * s[3];
  }

  /** Packed elements of an [in, out] Linear weight. */
  static long elements(long in, long out) {
    long[] s = shape(in, out);
    return s[0] * s[1] * s[2];
  }

  /**
   * Writes the {@code out} rows of {@code in} weights stacked from {@code parts} into {@code dst}
   * ({@link #elements} float16 values), one column block at a time.
   */
  static void packHalf(List<WeightTensor> parts, int in, int out, ShortDataBuffer dst) {
    packColumns16(parts, in, out, DType.F16, HalfFloats::floatToF16, dst);
  }

  /**
   * Writes the {@code out} rows of {@code in} weights stacked from {@code parts} into {@code dst}
   * ({@link #elements} bfloat16 values) in column blocks, for {@code LlavaBf16ColumnMatMul}: a
   * bfloat16 checkpoint's bits copied, other values rounded to the nearest bfloat16 (ties to even),
   * as TensorFlow's cast rounds.
   */
  static void packBfloat16Columns(List<WeightTensor> parts, int in, int out, ShortDataBuffer dst) {
    packColumns16(parts, in, out, DType.BF16, HalfFloats::floatToBf16, dst);
  }

  /** Column blocks of 16-bit values of {@code type}: its bits where stored so, else rounded. */
  private static void packColumns16(
      List<WeightTensor> parts,
      int in,
      int out,
      DType type,
      Narrowing narrow,
      ShortDataBuffer dst) {
    Rows rows = new Rows(parts, in);
    inParallel(
        Math.multiplyExact(in, COLUMNS),
        shape(in, out)[0],
        (first, end) -> {
          short[] block = new short[in * COLUMNS];
          short[] halves = new short[in];
          float[] floats = new float[in];
          for (int b = first; b < end; b++) {
            int columns = columns(b, out);
            if (columns < COLUMNS) {
              Arrays.fill(block, (short) 0);
            }
            for (int c = 0; c < columns; c++) {
              rows.read16(COLUMNS * b + c, type, narrow, halves, floats);
              for (int k = 0, at = c; k < in; k++, at += COLUMNS) {
                block[at] = halves[k];
              }
            }
            dst.offset((long) b * block.length).write(block);
          }
        });
  }

  /**
   * Writes the {@code out} rows of {@code in} weights stacked from {@code parts} into {@code dst}
   * ({@link #elements} float32 values), one column block at a time.
   */
  static void packFloat(List<WeightTensor> parts, int in, int out, FloatDataBuffer dst) {
    Rows rows = new Rows(parts, in);
    inParallel(
        Math.multiplyExact(in, COLUMNS),
        shape(in, out)[0],
        (first, end) -> {
          float[] block = new float[in * COLUMNS];
          float[] row = new float[in];
          for (int b = first; b < end; b++) {
            int columns = columns(b, out);
            if (columns < COLUMNS) {
              Arrays.fill(block, 0f);
            }
            for (int c = 0; c < columns; c++) {
              rows.readFloats(COLUMNS * b + c, row);
              for (int k = 0, at = c; k < in; k++, at += COLUMNS) {
                block[at] = row[k];
              }
            }
            dst.offset((long) b * block.length).write(block);
          }
        });
  }

  /**
   * Writes the {@code out} rows of {@code in} weights stacked from {@code parts} into {@code dst}
   * ({@link #pairedElements} bfloat16 values) in the bfloat16 matmul's layout ({@link
   * #pairedShape}): a bfloat16 checkpoint's bits copied, other values rounded to the nearest
   * bfloat16 (ties to even), as TensorFlow's cast rounds.
   */
  static void packBfloat16(List<WeightTensor> parts, int in, int out, ShortDataBuffer dst) {
    Rows rows = new Rows(parts, in);
    int blockElements = Math.toIntExact(pairedShape(in, out)[1] * COLUMNS * 2);
    inParallel(
        blockElements,
        pairedShape(in, out)[0],
        (first, end) -> {
          short[] block = new short[blockElements];
          short[] values = new short[in];
          float[] floats = new float[in];
          for (int b = first; b < end; b++) {
            int columns = columns(b, out);
            if (columns < COLUMNS) { // the padded inputs are never written: zero from the start
              Arrays.fill(block, (short) 0);
            }
            for (int c = 0; c < columns; c++) {
              rows.read16(COLUMNS * b + c, DType.BF16, HalfFloats::floatToBf16, values, floats);
              // Input k of column c: pair k / 2, element k % 2 of it.
              for (int k = 0; k < in; k++) {
                block[(k >> 1) * 2 * COLUMNS + 2 * c + (k & 1)] = values[k];
              }
            }
            dst.offset((long) b * block.length).write(block);
          }
        });
  }

  /** The columns of column block {@code block} that exist: 16, fewer for the last, or none. */
  private static int columns(int block, int out) {
    return Math.max(0, Math.min(COLUMNS, out - COLUMNS * block));
  }

  /** A float rounded to a 16-bit format's bits. */
  private interface Narrowing {
    short of(float value);
  }

  /** Packs column blocks [first, end). */
  private interface Blocks {
    void pack(int first, int end);
  }

  /**
   * Runs {@code blocks} over every column block, in runs of about a megabyte of weights spread over
   * the common fork-join pool: at load time nothing else needs the cores.
   */
  private static void inParallel(int blockElements, long blockCount, Blocks blocks) {
    int count = Math.toIntExact(blockCount);
    int perRun = Math.max(1, (1 << 20) / Math.max(1, blockElements));
    int runs = (count + perRun - 1) / perRun;
    IntStream.range(0, runs)
        .parallel()
        .forEach(i -> blocks.pack(i * perRun, Math.min(count, (i + 1) * perRun)));
  }

  /** Which part of a stacked weight holds row r, and which row of it. */
  private static final class Rows {
    private final List<WeightTensor> parts;
    private final int in;
    private final int[] firstRow;

    Rows(List<WeightTensor> parts, int in) {
      this.parts = parts;
      this.in = in;
      this.firstRow = new int[parts.size() + 1];
      for (int i = 0; i < parts.size(); i++) {
        WeightTensor p = parts.get(i);
        if (p.rank() != 2 || p.dim(1) != in) {
          throw new IllegalArgumentException(
              p.name() + ": " + p.shapeString() + " is not a Linear weight " + in + " wide");
        }
        firstRow[i + 1] = Math.addExact(firstRow[i], Math.toIntExact(p.dim(0)));
      }
    }

    private int index(int row) {
      for (int i = 0; i < parts.size(); i++) {
        if (row < firstRow[i + 1]) {
          return i;
        }
      }
      throw new IndexOutOfBoundsException("row " + row + " of " + parts.get(0).name());
    }

    /**
     * Row {@code row} as 16-bit values of type {@code type} (F16 or BF16): a part stored so gives
     * its bits, any other is widened to floats and rounded by {@code narrow}.
     */
    void read16(int row, DType type, Narrowing narrow, short[] values, float[] floats) {
      int i = index(row);
      WeightTensor part = parts.get(i);
      long start = (long) (row - firstRow[i]) * in;
      if (part.dtype() == type) {
        ShortBuffer stored = part.data().asShortBuffer();
        stored.position(Math.toIntExact(start));
        stored.get(values, 0, in);
      } else {
        part.readFloats(start, floats, 0, in);
        for (int k = 0; k < in; k++) {
          values[k] = narrow.of(floats[k]);
        }
      }
    }

    /** Row {@code row} widened (exactly) to float32. */
    void readFloats(int row, float[] dst) {
      int i = index(row);
      parts.get(i).readFloats((long) (row - firstRow[i]) * in, dst, 0, in);
    }
  }
}
