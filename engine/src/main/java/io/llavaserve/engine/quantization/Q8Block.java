package io.llavaserve.engine.quantization;

/**
 * One block of up to 32 consecutive weights of a row quantized as llama.cpp's Q8_0: the scale
 * {@code s = max |w| / 127} and the values {@code q = round(w / s)} in [-127, 127] (to nearest,
 * halves away from zero, as C's {@code roundf}), so that {@code w ~ q * s} with an error of at most
 * {@code s / 2}, and the block's largest magnitude maps to +-127 exactly. Unlike Q8_0, which keeps
 * {@code s} in float16, the scale is float32: a float16 scale would add a relative error of up to
 * 2^-11 to the whole block, and lose more for blocks whose largest weight is below 2^-14 * 127
 * (float16's subnormals), for 0.0625 bytes a weight saved.
 */
public final class Q8Block {

  /** Weights per block. */
  public static final int SIZE = 32;

  /** Bytes a block takes: 32 values and a float32 scale. */
  public static final int BYTES = SIZE + 4;

  private Q8Block() {}

  /**
   * Quantizes {@code w[from, from + length)} ({@code length <= 32}; a shorter block is a row's
   * last, zero-padded) into {@code q[qFrom, qFrom + length)} and returns the block's scale: 0 for a
   * block of zeros (whose values are then all 0).
   *
   * @throws IllegalArgumentException if a weight is NaN or infinite, naming it: the scale of such a
   *     block is undefined
   */
  public static float quantize(float[] w, int from, int length, byte[] q, int qFrom) {
    if (length < 0 || length > SIZE) {
      throw new IllegalArgumentException(
          "a Q8 block holds 0 to " + SIZE + " weights, not " + length);
    }
    int bad = firstNonFinite(w, from, length);
    if (bad >= 0) {
      throw new IllegalArgumentException(
          "weight "
              + bad
              + " of the block is "
              + w[from + bad]
              + "; int8 quantization needs finite weights");
    }
    float max = 0f;
    for (int i = 0; i < length; i++) {
      max = Math.max(max, Math.abs(w[from + i]));
    }
    float scale = max / 127f;
    for (int i = 0; i < length; i++) {
      q[qFrom + i] = scale == 0f ? 0 : round(w[from + i] / (double) scale);
    }
    return scale;
  }

  /** The weight a value stands for: {@code q * scale}, rounded once to float32. */
  public static float dequantize(byte q, float scale) {
    return q * scale;
  }

  /** The index within the block of its first NaN or infinite weight, or -1 when all are finite. */
  public static int firstNonFinite(float[] w, int from, int length) {
    for (int i = 0; i < length; i++) {
      if (!Float.isFinite(w[from + i])) {
        return i;
      }
    }
    return -1;
  }

  /** v to the nearest integer, halves away from zero, within [-127, 127]. */
  private static byte round(double v) {
    double r = Math.copySign(Math.floor(Math.abs(v) + 0.5), v);
    return (byte) Math.max(-127, Math.min(127, r));
  }
}
