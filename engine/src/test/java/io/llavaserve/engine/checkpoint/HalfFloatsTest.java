package io.llavaserve.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HalfFloatsTest {

  /** IEEE binary16 by its definition, computed in double. */
  private static double referenceF16(int bits) {
    int sign = (bits >>> 15) & 1;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    double magnitude;
    if (exponent == 0x1f) {
      magnitude = mantissa == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
    } else if (exponent == 0) {
      magnitude = Math.scalb((double) mantissa / 1024.0, -14);
    } else {
      magnitude = Math.scalb(1.0 + mantissa / 1024.0, exponent - 15);
    }
    return sign == 1 ? -magnitude : magnitude;
  }

  @Test
  void everyF16PatternWidensExactly() {
    for (int bits = 0; bits < 65536; bits++) {
      float actual = HalfFloats.f16ToFloat(bits);
      double expected = referenceF16(bits);
      if (Double.isNaN(expected)) {
        assertTrue(Float.isNaN(actual), "bits " + Integer.toHexString(bits));
      } else {
        assertEquals(
            Float.floatToRawIntBits((float) expected),
            Float.floatToRawIntBits(actual),
            "bits " + Integer.toHexString(bits));
        assertEquals(expected, actual, 0.0);
      }
    }
  }

  @Test
  void everyF16PatternSurvivesARoundTrip() {
    for (int bits = 0; bits < 65536; bits++) {
      float f = HalfFloats.f16ToFloat(bits);
      short back = HalfFloats.floatToF16(f);
      if (Float.isNaN(f)) {
        assertTrue(Float.isNaN(HalfFloats.f16ToFloat(back)));
      } else {
        assertEquals(bits, back & 0xffff, "bits " + Integer.toHexString(bits));
      }
    }
  }

  @Test
  void narrowingToF16RoundsToNearestEven() {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties to the even mantissa, 1.
    assertEquals(0x3c00, HalfFloats.floatToF16(1f + 0x1p-11f) & 0xffff);
    // 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9: rounds up.
    assertEquals(0x3c02, HalfFloats.floatToF16(1f + 3 * 0x1p-11f) & 0xffff);
    assertEquals(0x3c01, HalfFloats.floatToF16(1f + 0x1p-11f + 0x1p-20f) & 0xffff);
    assertEquals(0x7bff, HalfFloats.floatToF16(65504f) & 0xffff);
    assertEquals(0x7c00, HalfFloats.floatToF16(65520f) & 0xffff, "rounds up to infinity");
    assertEquals(0x7bff, HalfFloats.floatToF16(65519.99f) & 0xffff);
    assertEquals(0xfc00, HalfFloats.floatToF16(Float.NEGATIVE_INFINITY) & 0xffff);
    assertEquals(0x0001, HalfFloats.floatToF16(0x1p-24f) & 0xffff, "smallest subnormal");
    assertEquals(0x0000, HalfFloats.floatToF16(0x1p-25f) & 0xffff, "tie rounds to even zero");
    assertEquals(0x0001, HalfFloats.floatToF16(0x1.0001p-25f) & 0xffff);
    assertEquals(0x8000, HalfFloats.floatToF16(-0x1p-30f) & 0xffff, "keeps the sign of zero");
    assertEquals(0x0400, HalfFloats.floatToF16(0x1.ffep-15f) & 0xffff, "carries into normal");
    assertTrue(Float.isNaN(HalfFloats.f16ToFloat(HalfFloats.floatToF16(Float.NaN))));
    assertTrue(
        Float.isNaN(HalfFloats.f16ToFloat(HalfFloats.floatToF16(Float.intBitsToFloat(0x7f800001)))),
        "a NaN whose payload is only in dropped bits stays NaN");
  }

  @Test
  void everyBf16PatternWidensExactlyAndRoundTrips() {
    for (int bits = 0; bits < 65536; bits++) {
      float f = HalfFloats.bf16ToFloat(bits);
      int sign = (bits >>> 15) & 1;
      int exponent = (bits >>> 7) & 0xff;
      int mantissa = bits & 0x7f;
      if (exponent == 0xff && mantissa != 0) {
        assertTrue(Float.isNaN(f));
        continue;
      }
      double magnitude =
          exponent == 0xff
              ? Double.POSITIVE_INFINITY
              : exponent == 0
                  ? Math.scalb(mantissa / 128.0, -126)
                  : Math.scalb(1.0 + mantissa / 128.0, exponent - 127);
      assertEquals(sign == 1 ? -magnitude : magnitude, f, 0.0, "bits " + bits);
      assertEquals(bits, HalfFloats.floatToBf16(f) & 0xffff);
    }
  }

  @Test
  void narrowingToBf16RoundsToNearestEven() {
    assertEquals(0x3f80, HalfFloats.floatToBf16(1f + 0x1p-8f) & 0xffff, "tie to even");
    assertEquals(0x3f82, HalfFloats.floatToBf16(1f + 3 * 0x1p-8f) & 0xffff, "tie to even");
    assertEquals(0x3f81, HalfFloats.floatToBf16(1f + 0x1p-8f + 0x1p-20f) & 0xffff);
    assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(Float.NaN))));
  }
}
