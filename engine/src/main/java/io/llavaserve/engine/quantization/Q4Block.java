package io.llavaserve.engine.quantization;

import io.llavaserve.engine.checkpoint.HalfFloats;

/**
 * One block of up to 32 consecutive weights of a row quantized as llama.cpp's Q4_1: 4-bit values
 * {@code u} in [0, 15], a step {@code d} and a minimum {@code m}, both float16, so that {@code w ~
 * u * d + m}. The minimum is the block's smallest weight rounded down to a float16 and the step
 * {@code (max - m) / 15} rounded up, so every weight lies in {@code [m, m + 15 d]} and comes back
 * within {@code d / 2}. 20 bytes for 32 weights, as Q4_0 with a float32 scale would take; measured
 * on the bench checkpoint and the shipped model, the minimum gave clearly lower error than Q4_0's
 * symmetric blocks (README, "int8 and int4 weights"). Rounding to float16 enlarges the step by at
 * most 2^-10 of itself plus a fifteenth of one float16 unit of the minimum: about 0.1% for a block
 * centred near zero.
 */
public final class Q4Block {

  /** Weights per block. */
  public static final int SIZE = 32;

  /** Bytes a block takes: 32 four-bit values, a float16 step and a float16 minimum. */
  public static final int BYTES = SIZE / 2 + 4;

  /** The largest weight magnitude a block holds: float16's largest finite value. */
  public static final float MAX_MAGNITUDE = 65504f;

  /** The largest value. */
  public static final int MAX_VALUE = 15;

  /**
   * A block's step and minimum, as IEEE float16 bits.
   *
   * @param step {@code d}: 0 for a block whose weights all equal its minimum
   * @param minimum {@code m}: at most the block's smallest weight
   */
  public record Header(short step, short minimum) {

    /** {@code d} as a float, exactly. */
    public float stepValue() {
      return HalfFloats.f16ToFloat(step);
    }

    /** {@code m} as a float, exactly. */
    public float minimumValue() {
      return HalfFloats.f16ToFloat(minimum);
    }
  }

  private Q4Block() {}

  /**
   * Quantizes {@code w[from, from + length)} ({@code length <= 32}; a shorter block is a row's
   * last) into the values {@code u[uFrom, uFrom + length)}, one per byte, and returns the block's
   * step and minimum.
   *
   * @throws IllegalArgumentException if a weight is NaN, infinite or beyond {@link #MAX_MAGNITUDE},
   *     naming it: its block would have no float16 minimum or step
   */
  public static Header quantize(float[] w, int from, int length, byte[] u, int uFrom) {
    if (length < 0 || length > SIZE) {
      throw new IllegalArgumentException(
          "a Q4 block holds 0 to " + SIZE + " weights, not " + length);
    }
    int bad = firstUnrepresentable(w, from, length);
    if (bad >= 0) {
      throw new IllegalArgumentException(
          "weight " + bad + " of the block is " + w[from + bad] + "; " + requirement());
    }
    float min = 0f;
    float max = 0f;
    for (int i = 0; i < length; i++) {
      float v = w[from + i];
      min = i == 0 ? v : Math.min(min, v);
      max = i == 0 ? v : Math.max(max, v);
    }
    short minimum = HalfFloats.floatToF16(min);
    if (HalfFloats.f16ToFloat(minimum) > min) {
      minimum = nextDown(minimum);
    }
    double m = HalfFloats.f16ToFloat(minimum);
    double wanted = (max - m) / MAX_VALUE;
    short step = HalfFloats.floatToF16((float) wanted);
    if (HalfFloats.f16ToFloat(step) < wanted) {
      step++; // the next float16 up: wanted > 0, so the bits are a positive half's
    }
    double d = HalfFloats.f16ToFloat(step);
    for (int i = 0; i < length; i++) {
      double v = d == 0 ? 0 : Math.floor((w[from + i] - m) / d + 0.5);
      u[uFrom + i] = (byte) Math.max(0, Math.min(MAX_VALUE, v));
    }
    return new Header(step, minimum);
  }

  /** The weight a value stands for: {@code u * d + m}, rounded once to float32. */
  public static float dequantize(int u, Header h) {
    return (float) ((double) u * h.stepValue() + h.minimumValue());
  }

  /**
   * The index within the block of its first weight that is NaN, infinite or beyond {@link
   * #MAX_MAGNITUDE}, or -1 when there is none.
   */
  public static int firstUnrepresentable(float[] w, int from, int length) {
    for (int i = 0; i < length; i++) {
      if (!(Math.abs(w[from + i]) <= MAX_MAGNITUDE)) {
        return i;
      }
    }
    return -1;
  }

  /** What a weight must be for int4 quantization, for error messages. */
  public static String requirement() {
    return "int4 quantization needs finite weights within +-65504 (its blocks keep their"
        + " minimum and step in float16)";
  }

  /** The next float16 below the (finite) one whose bits are {@code h}. */
  private static short nextDown(short h) {
    if (h == 0) {
      return (short) 0x8001; // below +0: the smallest negative subnormal
    }
    return (short) ((h & 0x8000) != 0 ? h + 1 : h - 1);
  }
}
