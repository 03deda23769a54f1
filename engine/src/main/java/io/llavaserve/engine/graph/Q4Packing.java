package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.quantization.Q4Block;
import java.util.Arrays;
import org.tensorflow.ndarray.buffer.ByteDataBuffer;

/**
 * A Linear weight quantized to Q4 blocks ({@link Q4Block}) in the layout the native int4 matmul
 * reads ({@code q4_matmul.c}), which the stock-op fallback unpacks too: {@code [ceil(out / 64) * 4,
 * ceil(in / 32), 320]} bytes. Column block {@code b}, input block {@code j}: the float16 steps of
 * columns {@code 16b .. 16b + 15} (32 bytes, little-endian), their float16 minimums (32 bytes),
 * then their 4-bit values for inputs {@code 32j .. 32j + 31} two inputs at a time: 16 bytes per
 * pair of inputs, byte {@code c} holding input {@code 32j + 2p}'s value of column {@code 16b + c}
 * in its low four bits and input {@code 32j + 2p + 1}'s in its high four. Zero past {@code in} and
 * {@code out}.
 */
final class Q4Packing {

  /** Columns of a column block. */
  static final int COLUMNS = 16;

  /** Bytes of the steps, then of the minimums, at the head of a block. */
  static final int HALVES_BYTES = COLUMNS * 2;

  /** Bytes of the head: steps and minimums. */
  static final int HEAD_BYTES = 2 * HALVES_BYTES;

  /** Bytes of one block: 16 columns by 32 inputs, their steps and minimums. */
  static final int BLOCK_BYTES = COLUMNS * Q4Block.BYTES;

  private Q4Packing() {}

  /** The packed shape of an [in, out] Linear weight. */
  static long[] shape(long in, long out) {
    return new long[] {(out + 63) / 64 * 4, (in + Q4Block.SIZE - 1) / Q4Block.SIZE, BLOCK_BYTES};
  }

  /** Packed bytes of an [in, out] Linear weight. */
  static long bytes(long in, long out) {
    long[] s = shape(in, out);
    return s[0] * s[1] * s[2];
  }

  /**
   * Quantizes the {@code out} rows of {@code in} weights and writes them packed into {@code dst}
   * ({@link #bytes} long), one column block at a time.
   *
   * @throws CheckpointException naming the element when a weight is NaN, infinite or beyond
   *     float16's range
   */
  static void pack(WeightRows rows, int in, int out, ByteDataBuffer dst)
      throws CheckpointException {
    long[] shape = shape(in, out);
    int inputBlocks = Math.toIntExact(shape[1]);
    byte[] columnBlock = new byte[Math.multiplyExact(inputBlocks, BLOCK_BYTES)];
    float[] row = new float[in];
    byte[] u = new byte[Q4Block.SIZE];
    for (int b = 0; b < shape[0]; b++) {
      Arrays.fill(columnBlock, (byte) 0);
      for (int c = 0; c < COLUMNS && COLUMNS * b + c < out; c++) {
        int r = COLUMNS * b + c;
        rows.read(r, row);
        for (int j = 0; j < inputBlocks; j++) {
          int from = j * Q4Block.SIZE;
          int length = Math.min(Q4Block.SIZE, in - from);
          int bad = Q4Block.firstUnrepresentable(row, from, length);
          if (bad >= 0) {
            throw new CheckpointException(
                rows.element(r, from + bad)
                    + " is "
                    + row[from + bad]
                    + "; "
                    + Q4Block.requirement()
                    + " (model.quantization)");
          }
          Q4Block.Header h = Q4Block.quantize(row, from, length, u, 0);
          int block = j * BLOCK_BYTES;
          putHalf(columnBlock, block + 2 * c, h.step());
          putHalf(columnBlock, block + HALVES_BYTES + 2 * c, h.minimum());
          for (int i = 0; i < length; i++) {
            int at = block + HEAD_BYTES + i / 2 * COLUMNS + c;
            columnBlock[at] |= (byte) (i % 2 == 0 ? u[i] : u[i] << 4);
          }
        }
      }
      dst.offset((long) b * columnBlock.length).write(columnBlock);
    }
  }

  private static void putHalf(byte[] dst, int at, short bits) {
    dst[at] = (byte) bits;
    dst[at + 1] = (byte) (bits >>> 8);
  }
}
