package io.llavaserve.engine.quantization;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Q8BlockTest {

  @Test
  void theLargestMagnitudeMapsToPlusOrMinus127AndBackToItself() {
    SplittableRandom rnd = new SplittableRandom(3);
    for (int trial = 0; trial < 200; trial++) {
      float[] w = new float[Q8Block.SIZE];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) ((rnd.nextDouble() * 2 - 1) * Math.pow(10, rnd.nextInt(-6, 4)));
      }
      int at = rnd.nextInt(w.length);
      w[at] = (rnd.nextBoolean() ? 1 : -1) * 2 * largestMagnitude(w);
      byte[] q = new byte[Q8Block.SIZE];
      float scale = Q8Block.quantize(w, 0, w.length, q, 0);
      assertEquals(w[at] > 0 ? 127 : -127, q[at], "the block's largest weight");
      float back = Q8Block.dequantize(q[at], scale);
      assertTrue(Math.abs(back - w[at]) <= 2 * Math.ulp(w[at]), back + " for " + w[at]);
      for (int i = 0; i < w.length; i++) {
        assertTrue(Math.abs(q[i]) <= 127);
      }
    }
  }

  @Test
  void everyWeightComesBackWithinHalfAStep() {
    SplittableRandom rnd = new SplittableRandom(4);
    float[] w = new float[Q8Block.SIZE * 50];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) rnd.nextGaussian() * 0.02f;
    }
    byte[] q = new byte[w.length];
    for (int b = 0; b < 50; b++) {
      float scale = Q8Block.quantize(w, b * Q8Block.SIZE, Q8Block.SIZE, q, b * Q8Block.SIZE);
      for (int i = b * Q8Block.SIZE; i < (b + 1) * Q8Block.SIZE; i++) {
        double err = Math.abs((double) Q8Block.dequantize(q[i], scale) - w[i]);
        // Half a step from rounding to an integer, and float32 rounding of q * scale.
        assertTrue(err <= scale / 2 * (1 + 1e-6) + Math.ulp(w[i]), "weight " + i + ": " + err);
      }
    }
  }

  @Test
  void aBlockOfZerosHasScaleZeroAndValuesZero() {
    float[] w = new float[Q8Block.SIZE];
    w[3] = -0f;
    byte[] q = new byte[Q8Block.SIZE];
    java.util.Arrays.fill(q, (byte) 9);
    float scale = Q8Block.quantize(w, 0, w.length, q, 0);
    assertEquals(0f, scale);
    for (byte v : q) {
      assertEquals(0, v);
    }
    assertEquals(0f, Q8Block.dequantize(q[0], scale));
  }

  @ParameterizedTest
  @ValueSource(floats = {0.37f, -0.37f, 1e-30f, -3e5f, 127f})
  void aBlockOfEqualValuesIsAllPlusOrMinus127AndComesBackToTheValue(float v) {
    float[] w = new float[Q8Block.SIZE];
    java.util.Arrays.fill(w, v);
    byte[] q = new byte[Q8Block.SIZE];
    float scale = Q8Block.quantize(w, 0, w.length, q, 0);
    for (byte b : q) {
      assertEquals(v > 0 ? 127 : -127, b);
    }
    float back = Q8Block.dequantize(q[0], scale);
    assertTrue(Math.abs(back - v) <= Math.ulp(v), back + " for " + v);
  }

  @Test
  void halvesRoundAwayFromZero() {
    float[] w = new float[Q8Block.SIZE];
    w[0] = 127f; // scale 1 exactly
    w[1] = 2.5f;
    w[2] = -2.5f;
    w[3] = 0.5f;
    w[4] = -0.5f;
    w[5] = 2.4999998f;
    byte[] q = new byte[Q8Block.SIZE];
    assertEquals(1f, Q8Block.quantize(w, 0, w.length, q, 0));
    assertEquals(3, q[1]);
    assertEquals(-3, q[2]);
    assertEquals(1, q[3]);
    assertEquals(-1, q[4]);
    assertEquals(2, q[5]);
  }

  @Test
  void aShortBlockQuantizesOnlyItsWeightsFromTheGivenOffsets() {
    float[] w = {9f, 9f, 1f, -2f, 0.5f, 9f};
    byte[] q = new byte[8];
    float scale = Q8Block.quantize(w, 2, 3, q, 4);
    assertEquals(2f / 127f, scale);
    assertEquals(0, q[3]);
    assertEquals(64, q[4]); // 1 / fl(2 / 127) = 63.5000002
    assertEquals(-127, q[5]);
    assertEquals(32, q[6]); // 31.75
    assertEquals(0, q[7]);
  }

  @ParameterizedTest
  @ValueSource(floats = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY})
  void aNonFiniteWeightIsRefusedByIndex(float bad) {
    float[] w = new float[Q8Block.SIZE];
    w[0] = 1f;
    w[17] = bad;
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Q8Block.quantize(w, 0, w.length, new byte[Q8Block.SIZE], 0));
    assertTrue(e.getMessage().contains("weight 17 of the block is " + bad), e.getMessage());
    assertTrue(e.getMessage().contains("needs finite weights"), e.getMessage());
    assertEquals(17, Q8Block.firstNonFinite(w, 0, w.length));
    assertEquals(-1, Q8Block.firstNonFinite(w, 0, 17));
  }

  @Test
  void moreThan32WeightsAreNotABlock() {
    assertThrows(
        IllegalArgumentException.class,
        () -> Q8Block.quantize(new float[33], 0, 33, new byte[33], 0));
  }

  @Test
  void int8TakesABlocksBytesPerWeight() {
    assertEquals(36.0 / 32, Quantization.INT8.weightBytes());
    assertEquals(0.0, Quantization.NONE.weightBytes());
  }

  private static float largestMagnitude(float[] w) {
    float m = 0;
    for (float v : w) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }
}
