package io.llavaserve.engine.checkpoint;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One weight of a checkpoint, backed by a read-only memory mapping of its file: the bytes are never
 * copied onto the Java heap unless a caller asks for {@link #toFloatArray()}.
 *
 * @param name the tensor's name (canonical llava-hf name when it comes from a {@link Checkpoint})
 * @param file the safetensors file that holds it
 * @param dtype element type
 * @param shape dimensions, outermost first (row-major, as PyTorch stores them)
 * @param data the tensor's bytes, little-endian, from position 0 to the limit
 */
public record WeightTensor(String name, Path file, DType dtype, long[] shape, ByteBuffer data) {

  private static final int CHUNK = 8192;

  public WeightTensor {
    shape = shape.clone();
    data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    long expected = count(shape) * dtype.byteSize();
    if (data.remaining() != expected) {
      throw new IllegalArgumentException(
          file
              + ": tensor \""
              + name
              + "\": "
              + data.remaining()
              + " bytes for shape "
              + Arrays.toString(shape)
              + " of "
              + dtype
              + " (needs "
              + expected
              + ")");
    }
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** A fresh view of the bytes (little-endian, position 0), so callers cannot disturb others. */
  @Override
  public ByteBuffer data() {
    return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Number of dimensions. */
  public int rank() {
    return shape.length;
  }

  /** Size of dimension {@code i}. */
  public long dim(int i) {
    return shape[i];
  }

  public long numElements() {
    return count(shape);
  }

  /** All elements widened to float (exactly: F16 and BF16 values are all representable). */
  public float[] toFloatArray() {
    long n = numElements();
    if (n > Integer.MAX_VALUE - 8) {
      throw new IllegalStateException(
          file
              + ": tensor \""
              + name
              + "\" has "
              + n
              + " elements, too many for one array;"
              + " use readFloats in chunks");
    }
    float[] out = new float[(int) n];
    readFloats(0, out, 0, out.length);
    return out;
  }

  /**
   * Widens elements {@code [startElement, startElement + length)} into {@code dst} from {@code
   * dstOffset}, so a caller can fill a native buffer chunk by chunk.
   */
  public void readFloats(long startElement, float[] dst, int dstOffset, int length) {
    long n = numElements();
    if (startElement < 0 || length < 0 || startElement + length > n) {
      throw new IndexOutOfBoundsException(
          "elements ["
              + startElement
              + ", "
              + (startElement + length)
              + ") of tensor \""
              + name
              + "\" with "
              + n
              + " elements");
    }
    int start = Math.toIntExact(startElement);
    switch (dtype) {
      case F32 -> {
        FloatBuffer floats = data().asFloatBuffer();
        floats.position(start);
        floats.get(dst, dstOffset, length);
      }
      case F16, BF16 -> {
        ShortBuffer shorts = data().asShortBuffer();
        shorts.position(start);
        short[] chunk = new short[Math.min(CHUNK, Math.max(length, 1))];
        boolean f16 = dtype == DType.F16;
        for (int done = 0; done < length; ) {
          int k = Math.min(chunk.length, length - done);
          shorts.get(chunk, 0, k);
          for (int i = 0; i < k; i++) {
            dst[dstOffset + done + i] =
                f16 ? HalfFloats.f16ToFloat(chunk[i]) : HalfFloats.bf16ToFloat(chunk[i]);
          }
          done += k;
        }
      }
    }
  }

  /** The shape as {@code [a, b, c]}. */
  public String shapeString() {
    return Arrays.toString(shape);
  }

  static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }
}
