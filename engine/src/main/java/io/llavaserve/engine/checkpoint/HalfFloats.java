package io.llavaserve.engine.checkpoint;

/**
 * Conversions between {@code float} and the two 16-bit formats of checkpoints: IEEE binary16 (F16)
 * and bfloat16 (BF16). Widening is exact; narrowing rounds to nearest, ties to even, as PyTorch
 * does. Java 17 has no {@code Float.float16ToFloat}, hence this class.
 */
public final class HalfFloats {

  // Every F16 pattern's value (256 KiB): a lookup widened a checkpoint's weights in about a third
  // of the time the arithmetic took, and real weights touch only a few of its cache lines.
  private static final float[] F16_VALUES = new float[1 << 16];

  static {
    for (int bits = 0; bits < F16_VALUES.length; bits++) {
      F16_VALUES[bits] = widenF16(bits);
    }
  }

  private HalfFloats() {}

  /** The exact value of an F16 bit pattern (low 16 bits of {@code bits}). */
  public static float f16ToFloat(int bits) {
    return F16_VALUES[bits & 0xffff];
  }

  private static float widenF16(int bits) {
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      // Infinity, or NaN with its payload kept in the high mantissa bits.
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exponent == 0) {
      // Zero or subnormal: mantissa * 2^-24, exact in float (mantissa < 2^10).
      float magnitude = mantissa * 0x1p-24f;
      return sign == 0 ? magnitude : -magnitude;
    }
    // Rebias the exponent from 15 to 127.
    return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }

  /** The nearest F16 to {@code value} (ties to even; overflow gives infinity). */
  public static short floatToF16(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits >>> 16) & 0x8000;
    int exponent = (bits >>> 23) & 0xff;
    int mantissa = bits & 0x7fffff;
    if (exponent == 0xff) {
      // Keep NaN a NaN even when its payload lies only in the dropped low bits.
      int nan = mantissa == 0 ? 0 : 0x200 | (mantissa >>> 13);
      return (short) (sign | 0x7c00 | nan);
    }
    int halfExponent = exponent - 112;
    if (halfExponent >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (halfExponent <= 0) {
      if (halfExponent < -10) {
        return (short) sign; // below half the smallest subnormal
      }
      int full = mantissa | 0x800000;
      int shift = 14 - halfExponent;
      return (short) (sign | roundShift(full, shift));
    }
    int rounded = roundShift((halfExponent << 23) | mantissa, 13);
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    return (short) (sign | rounded);
  }

  /** The exact value of a BF16 bit pattern (low 16 bits of {@code bits}). */
  public static float bf16ToFloat(int bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /** The nearest BF16 to {@code value} (ties to even). */
  public static short floatToBf16(float value) {
    int bits = Float.floatToRawIntBits(value);
    if (Float.isNaN(value)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }

  /** {@code value >>> shift}, rounded to nearest with ties to even. */
  private static int roundShift(int value, int shift) {
    int kept = value >>> shift;
    int rest = value & ((1 << shift) - 1);
    int half = 1 << (shift - 1);
    if (rest > half || (rest == half && (kept & 1) != 0)) {
      kept++;
    }
    return kept;
  }
}
