package io.llavaserve.engine.quantization;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Q4BlockTest {

  /**
   * Quantizes random blocks of every magnitude float16 steps reach (from subnormal steps to weights
   * near 65504), Gaussian, shifted off zero or with outliers, and dequantizes them again.
   */
  @ParameterizedTest(name = "magnitude 1e{0}")
  @ValueSource(ints = {-7, -5, -3, -2, -1, 0, 2, 4})
  void everyWeightComesBackWithinHalfAStep(int exponent) {
    SplittableRandom rnd = new SplittableRandom(5 + exponent);
    double scale = Math.pow(10, exponent);
    byte[] u = new byte[Q4Block.SIZE];
    int exactSteps = 0;
    for (int trial = 0; trial < 300; trial++) {
      float[] w = new float[Q4Block.SIZE];
      double shift = trial % 3 == 0 ? rnd.nextGaussian() * 4 * scale : 0;
      for (int i = 0; i < w.length; i++) {
        double v = rnd.nextGaussian() * scale * (trial % 5 == 0 && i % 9 == 0 ? 20 : 1) + shift;
        w[i] = (float) Math.max(-65504, Math.min(65504, v));
      }
      Q4Block.Header h = Q4Block.quantize(w, 0, w.length, u, 0);
      double d = h.stepValue();
      double m = h.minimumValue();
      float min = w[0];
      float max = w[0];
      for (float v : w) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      assertTrue(m <= min, "the minimum " + m + " is above the smallest weight " + min);
      assertTrue(
          m + 15 * d >= max - 1e-12 * Math.abs(max), "the top " + (m + 15 * d) + " below " + max);
      assertTrue(d >= 0 && Double.isFinite(d), "step " + d);
      for (int i = 0; i < w.length; i++) {
        assertTrue(u[i] >= 0 && u[i] <= 15, "value " + u[i]);
        double back = u[i] * d + m;
        double err = Math.abs(back - w[i]);
        assertTrue(
            err <= d / 2 * (1 + 1e-9) + 1e-12 * Math.abs(max - min),
            "weight " + i + " = " + w[i] + " came back as " + back + ", step " + d);
        float rounded = Q4Block.dequantize(u[i], h);
        assertEquals((float) back, rounded, "dequantize rounds u * d + m once");
      }
      exactSteps += d == (max - m) / 15 ? 1 : 0;
    }
    assertTrue(exactSteps < 300, "the step should be rounded up to a float16, not exact");
  }

  @Test
  void theMinimumAndTheLargestWeightMapToTheEndsOfTheRange() {
    float[] w = new float[Q4Block.SIZE];
    for (int i = 0; i < w.length; i++) {
      w[i] = -1.5f + i * 0.1f; // -1.5 (a float16) up to 1.6
    }
    byte[] u = new byte[Q4Block.SIZE];
    Q4Block.Header h = Q4Block.quantize(w, 0, w.length, u, 0);
    assertEquals(-1.5f, h.minimumValue());
    assertEquals(0, u[0]);
    assertEquals(15, u[31]);
    assertTrue(h.stepValue() >= 3.1f / 15 && h.stepValue() < 3.1f / 15 * (1 + 1e-3));
  }

  @Test
  void aBlockOfZerosHasStepAndMinimumZeroAndValuesZero() {
    float[] w = new float[Q4Block.SIZE];
    w[3] = -0f;
    byte[] u = new byte[Q4Block.SIZE];
    Arrays.fill(u, (byte) 9);
    Q4Block.Header h = Q4Block.quantize(w, 0, w.length, u, 0);
    assertEquals(0f, h.stepValue());
    assertEquals(0f, Math.abs(h.minimumValue()));
    for (byte v : u) {
      assertEquals(0, v);
    }
    assertEquals(0f, Q4Block.dequantize(0, h));
  }

  @ParameterizedTest
  @ValueSource(floats = {0.375f, -0.375f, 1024f, -65504f, 65504f})
  void aBlockOfOneFloat16ValueComesBackExactly(float v) {
    float[] w = new float[Q4Block.SIZE];
    Arrays.fill(w, v);
    byte[] u = new byte[Q4Block.SIZE];
    Q4Block.Header h = Q4Block.quantize(w, 0, w.length, u, 0);
    assertEquals(0f, h.stepValue());
    for (byte b : u) {
      assertEquals(v, Q4Block.dequantize(b, h));
    }
  }

  @Test
  void aBlockOfEqualWeightsOffTheFloat16GridComesBackWithinAStep() {
    float[] w = new float[Q4Block.SIZE];
    Arrays.fill(w, 0.1f); // not a float16: the minimum rounds down, the step makes up the rest
    byte[] u = new byte[Q4Block.SIZE];
    Q4Block.Header h = Q4Block.quantize(w, 0, w.length, u, 0);
    assertTrue(h.minimumValue() < 0.1f);
    assertTrue(h.stepValue() > 0);
    double back = Q4Block.dequantize(u[0], h);
    assertTrue(Math.abs(back - 0.1) <= h.stepValue() / 2 + 1e-9, back + " for 0.1");
  }

  @Test
  void aShortBlockQuantizesOnlyItsWeightsFromTheGivenOffsets() {
    float[] w = {9f, 9f, 1f, -2f, 0.5f, 9f};
    byte[] u = new byte[8];
    Q4Block.Header h = Q4Block.quantize(w, 2, 3, u, 4);
    assertEquals(-2f, h.minimumValue());
    assertEquals(0.2f, h.stepValue(), 1e-4); // 3 / 15, rounded up to a float16
    assertEquals(0, u[3]);
    assertEquals(15, u[4]);
    assertEquals(0, u[5]);
    assertEquals(12, u[6]); // 2.5 / 0.2
    assertEquals(0, u[7]);
  }

  @ParameterizedTest
  @ValueSource(floats = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 65520f})
  void aWeightFloat16CannotBoundIsRefusedByIndex(float bad) {
    float[] w = new float[Q4Block.SIZE];
    w[0] = 1f;
    w[17] = bad;
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Q4Block.quantize(w, 0, w.length, new byte[Q4Block.SIZE], 0));
    assertTrue(e.getMessage().contains("weight 17 of the block is " + bad), e.getMessage());
    assertTrue(e.getMessage().contains("needs finite weights within +-65504"), e.getMessage());
    assertEquals(17, Q4Block.firstUnrepresentable(w, 0, w.length));
    assertEquals(-1, Q4Block.firstUnrepresentable(w, 0, 17));
  }

  @Test
  void moreThan32WeightsAreNotABlock() {
    assertThrows(
        IllegalArgumentException.class,
        () -> Q4Block.quantize(new float[33], 0, 33, new byte[33], 0));
  }

  @Test
  void int4TakesABlocksBytesPerWeight() {
    assertEquals(20.0 / 32, Quantization.INT4.weightBytes());
  }
}
