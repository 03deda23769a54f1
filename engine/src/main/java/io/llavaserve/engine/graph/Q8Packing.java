package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.quantization.Q8Block;
import java.util.Arrays;
import org.tensorflow.ndarray.buffer.ByteDataBuffer;

/**
 * A Linear weight quantized to Q8 blocks ({@link Q8Block}) in the layout the native int8 matmul
 * reads ({@code q8_matmul.c}), which the stock-op fallback unpacks too: {@code [ceil(out / 64) * 4,
 * ceil(in / 32), 576]} bytes. Column block {@code b}, input block {@code j}: the float32 scales of
 * columns {@code 16b .. 16b + 15} (64 bytes, little-endian), then their int8 values for inputs
 * {@code 32j .. 32j + 31}, input by input (16 bytes each). Zero past {@code in} and {@code out}.
 */
final class Q8Packing {

  /** Columns of a column block. */
  static final int COLUMNS = 16;

  /** Bytes of the scales at the head of a block. */
  static final int SCALE_BYTES = COLUMNS * 4;

  /** Bytes of one block: 16 columns by 32 inputs and their scales. */
  static final int BLOCK_BYTES = SCALE_BYTES + Q8Block.SIZE * COLUMNS;

  private Q8Packing() {}

  /** The packed shape of an [in, out] Linear weight. */
  static long[] shape(long in, long out) {
    return new long[] {(out + 63) / 64 * 4, (in + Q8Block.SIZE - 1) / Q8Block.SIZE, BLOCK_BYTES};
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
   * @throws CheckpointException naming the element when a weight is NaN or infinite
   */
  static void pack(WeightRows rows, int in, int out, ByteDataBuffer dst)
      throws CheckpointException {
    long[] shape = shape(in, out);
    int inputBlocks = Math.toIntExact(shape[1]);
    byte[] columnBlock = new byte[Math.multiplyExact(inputBlocks, BLOCK_BYTES)];
    float[] row = new float[in];
    byte[] q = new byte[Q8Block.SIZE];
    for (int b = 0; b < shape[0]; b++) {
      Arrays.fill(columnBlock, (byte) 0);
      for (int c = 0; c < COLUMNS && COLUMNS * b + c < out; c++) {
        int r = COLUMNS * b + c;
        rows.read(r, row);
        for (int j = 0; j < inputBlocks; j++) {
          int from = j * Q8Block.SIZE;
          int length = Math.min(Q8Block.SIZE, in - from);
          int bad = Q8Block.firstNonFinite(row, from, length);
          if (bad >= 0) {
            throw new CheckpointException(
                rows.element(r, from + bad)
                    + " is "
                    + row[from + bad]
                    + "; int8 quantization (model.quantization) needs finite weights");
          }
          float scale = Q8Block.quantize(row, from, length, q, 0);
          int block = j * BLOCK_BYTES;
          int bits = Float.floatToRawIntBits(scale);
          for (int i = 0; i < 4; i++) {
            columnBlock[block + 4 * c + i] = (byte) (bits >>> (8 * i));
          }
          for (int i = 0; i < length; i++) {
            columnBlock[block + SCALE_BYTES + i * COLUMNS + c] = q[i];
          }
        }
      }
      dst.offset((long) b * columnBlock.length).write(columnBlock);
    }
  }
}
