package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TUint8;

/**
 * The int8 and int4 weight matmuls with their activations quantized to int8 (per row, blocks of 32,
 * as llama.cpp's Q8_0), on each integer path: plain C, AVX2 (vpmaddubsw), AVX-VNNI and AVX-512
 * VNNI, each forced in turn (a path this CPU lacks runs the highest one below it that it has: an
 * AVX-512 VNNI CPU need not have AVX-VNNI, as Zen 4 and Ice Lake do not). Every path must give the
 * integer sums exactly, so each output equals, up to float32 rounding of the per-block scaling, a
 * float64 sum over activations quantized here on their own; and that stays within half an
 * activation step per input of the product with the float activations.
 */
class NativeInt8ActivationsTest {

  private static final int[][] SHAPES = {
    {32, 64}, {1, 1}, {31, 17}, {33, 130}, {70, 100}, {129, 65}, {1000, 33}, {96, 16}
  };
  private static final int[] ROWS = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 33, 64, 257};

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  /** Activations quantized as the kernel does: [m][kb * 32] values and [m][kb] scales. */
  record Quantized(int[][] q, float[][] s) {
    static Quantized of(float[] x, int m, int k) {
      int kb = (k + 31) / 32;
      int[][] q = new int[m][kb * 32];
      float[][] s = new float[m][kb];
      for (int r = 0; r < m; r++) {
        for (int j = 0; j < kb; j++) {
          float amax = 0;
          for (int i = j * 32; i < Math.min(k, j * 32 + 32); i++) {
            amax = Math.max(amax, Math.abs(x[r * k + i]));
          }
          float d = amax / 127.0f;
          float id = d != 0 ? 1.0f / d : 0.0f;
          for (int i = j * 32; i < Math.min(k, j * 32 + 32); i++) {
            q[r][i] = (int) Math.rint(x[r * k + i] * id); // half to even, as cvtps and nearbyintf
          }
          s[r][j] = d;
        }
      }
      return new Quantized(q, s);
    }
  }

  static NativeQ8MatMulTest.Product product(
      TUint8 packed, int n, int threads, int int8Rows, int int8Path) {
    return product(NativeKernels.Q8_MATMUL, packed, n, threads, int8Rows, int8Path);
  }

  static NativeQ8MatMulTest.Product product(
      String op, TUint8 packed, int n, int threads, int int8Rows, int int8Path) {
    Graph g = new Graph();
    Ops tf = Ops.create(g);
    Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
    Operand<TFloat32> y =
        tf.scope()
            .opBuilder(op, "mm")
            .addInput(x.asOutput())
            .addInput(tf.constantOf(packed).asOutput())
            .setAttr("n", (long) n)
            .setAttr("num_threads", (long) threads)
            .setAttr("int8_rows", (long) int8Rows)
            .setAttr("int8_path", (long) int8Path)
            .build()
            .output(0);
    return new NativeQ8MatMulTest.Product(g, new Session(g), x, y);
  }

  private static float[] activations(SplittableRandom rnd, int m, int k) {
    float[] x = new float[m * k];
    for (int i = 0; i < x.length; i++) {
      // rows of different magnitudes, an outlier now and then, some zero blocks
      double scale = Math.pow(10, (i / k) % 4 - 2);
      x[i] = (float) (rnd.nextGaussian() * scale * (rnd.nextInt(50) == 0 ? 20 : 1));
    }
    if (m > 2 && k > 40) {
      java.util.Arrays.fill(x, k, k + 32, 0f);
    }
    return x;
  }

  @ParameterizedTest(name = "int8 path {0}")
  @ValueSource(ints = {0, 1, 2, 3, -1})
  void integerSumsOfTheQuantizedActivationsOnEveryPath(int path) throws Exception {
    SplittableRandom rnd = new SplittableRandom(path + 70);
    for (int[] shape : SHAPES) {
      float[][] w = NativeQ8MatMulTest.randomWeight(rnd, shape[0], shape[1]);
      double[][] d = NativeQ8MatMulTest.dequantized(w);
      try (TUint8 packed = NativeQ8MatMulTest.packed(w)) {
        assertIntegerSums(NativeKernels.Q8_MATMUL, packed, d, abs(d), path, rnd);
      }
    }
  }

  @ParameterizedTest(name = "int8 path {0}")
  @ValueSource(ints = {0, 1, 2, 3, -1})
  void int4WeightsTakeTheirStepsAndMinimumsOnEveryPath(int path) throws Exception {
    SplittableRandom rnd = new SplittableRandom(path + 80);
    for (int[] shape : SHAPES) {
      float[][] w = NativeQ4MatMulTest.randomWeight(rnd, shape[0], shape[1]);
      double[][] mag = new double[shape[0]][shape[1]];
      double[][] d = NativeQ4MatMulTest.dequantized(w, mag);
      try (TUint8 packed = NativeQ4MatMulTest.packed(w)) {
        assertIntegerSums(NativeKernels.Q4_MATMUL, packed, d, mag, path, rnd);
      }
    }
  }

  /**
   * int4 values at their largest (15) against activations at their largest (+-127 after
   * quantization), so every partial sum a path keeps in 16 bits reaches its bound (the AVX2 path
   * adds a block's eight vpmaddubsw results in int16: 8 * 2 * 15 * 127 = 30480): the sums stay
   * exact.
   */
  @ParameterizedTest(name = "int8 path {0}")
  @ValueSource(ints = {0, 1, 2, 3, -1})
  void int4SumsAtTheLargestValuesStayExact(int path) throws Exception {
    int k = 96;
    int n = 48;
    float[][] w = new float[k][n];
    for (int i = 0; i < k; i++) {
      for (int c = 0; c < n; c++) {
        w[i][c] = i % 32 == 5 ? -1f : 1f; // one input a block at the minimum: the rest are 15
      }
    }
    double[][] mag = new double[k][n];
    double[][] d = NativeQ4MatMulTest.dequantized(w, mag);
    int m = 6;
    float[] x = new float[m * k];
    for (int r = 0; r < m; r++) {
      for (int i = 0; i < k; i++) {
        x[r * k + i] = r % 2 == 0 ? 2.5f : -0.75f; // every input at its block's largest magnitude
      }
    }
    Quantized xq = Quantized.of(x, m, k);
    try (TUint8 packed = NativeQ4MatMulTest.packed(w);
        NativeQ8MatMulTest.Product p = product(NativeKernels.Q4_MATMUL, packed, n, 1, 1, path)) {
      float[] got = p.run(x, m, k, n);
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double acc = 0;
          for (int i = 0; i < k; i++) {
            assertEquals(r % 2 == 0 ? 127 : -127, xq.q()[r][i]);
            acc += xq.q()[r][i] * (double) xq.s()[r][i / 32] * d[i][c];
          }
          assertEquals(acc, got[r * n + c], 1e-5 * Math.abs(acc), "row " + r + " col " + c);
        }
      }
    }
  }

  private static double[][] abs(double[][] d) {
    double[][] a = new double[d.length][];
    for (int i = 0; i < d.length; i++) {
      a[i] = java.util.Arrays.stream(d[i]).map(Math::abs).toArray();
    }
    return a;
  }

  /**
   * Every row count of {@link #ROWS}, on 1 and 2 threads: each output is the float64 sum over the
   * activations quantized here, up to float32 rounding of each block's scaling ({@code magnitude}
   * bounds what is rounded per weight).
   */
  private static void assertIntegerSums(
      String op,
      TUint8 packed,
      double[][] d,
      double[][] magnitude,
      int path,
      SplittableRandom rnd) {
    int k = d.length;
    int n = d[0].length;
    for (int threads : new int[] {1, 2}) {
      try (NativeQ8MatMulTest.Product p = product(op, packed, n, threads, 1, path)) {
        for (int m : ROWS) {
          float[] x = activations(rnd, m, k);
          Quantized xq = Quantized.of(x, m, k);
          float[] got = p.run(x, m, k, n);
          for (int r = 0; r < m; r++) {
            for (int c = 0; c < n; c++) {
              double acc = 0;
              double mag = 0;
              for (int i = 0; i < k; i++) {
                double xv = xq.q()[r][i] * (double) xq.s()[r][i / 32];
                acc += xv * d[i][c];
                mag += Math.abs(xv) * magnitude[i][c];
              }
              double bound = (2.0 * ((k + 31) / 32) + 10) * 0x1p-24 * mag + 1e-30;
              double err = Math.abs(got[r * n + c] - acc);
              if (!(err <= bound)) {
                throw new AssertionError(
                    String.format(
                        "%s path %d threads %d %dx%dx%d row %d col %d: %s, expected %s within %s",
                        op, path, threads, m, k, n, r, c, got[r * n + c], acc, bound));
              }
            }
          }
        }
      }
    }
  }

  @Test
  void staysWithinHalfAnActivationStepOfTheFloatActivations() throws Exception {
    SplittableRandom rnd = new SplittableRandom(71);
    int k = 300;
    int n = 70;
    int m = 9;
    float[][] w = NativeQ8MatMulTest.randomWeight(rnd, k, n);
    double[][] d = NativeQ8MatMulTest.dequantized(w);
    float[] x = activations(rnd, m, k);
    try (TUint8 packed = NativeQ8MatMulTest.packed(w);
        NativeQ8MatMulTest.Product p = product(packed, n, 1, 1, -1)) {
      float[] got = p.run(x, m, k, n);
      boolean inexact = false;
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double exact = 0;
          double bound = 0;
          double mag = 0;
          for (int j = 0; j * 32 < k; j++) {
            double amax = 0;
            for (int i = j * 32; i < Math.min(k, j * 32 + 32); i++) {
              amax = Math.max(amax, Math.abs(x[r * k + i]));
            }
            for (int i = j * 32; i < Math.min(k, j * 32 + 32); i++) {
              exact += x[r * k + i] * d[i][c];
              mag += Math.abs(x[r * k + i] * d[i][c]);
              bound += amax / 127 / 2 * Math.abs(d[i][c]);
            }
          }
          bound += (2.0 * k + 70) * 0x1p-24 * 2 * mag;
          double err = Math.abs(got[r * n + c] - exact);
          assertTrue(err <= bound, "row " + r + " column " + c + ": " + err + " > " + bound);
          inexact |= err > 1e-5 * mag;
        }
      }
      assertTrue(inexact, "int8 activations should not be exact");
    }
  }

  /**
   * A call of up to 32 rows reads the int8 or int4 blocks in place (where the CPU has AVX-512 VNNI
   * and VBMI; on the AVX2 path, int4 calls of up to 6 rows), a larger one through packed panels;
   * either way a row's result is the same bits. On the best path and on AVX2 forced.
   */
  @ParameterizedTest(name = "{0}, int8 path {1}")
  @CsvSource({
    NativeKernels.Q8_MATMUL + ",-1",
    NativeKernels.Q4_MATMUL + ",-1",
    NativeKernels.Q8_MATMUL + ",1",
    NativeKernels.Q4_MATMUL + ",1"
  })
  void fewRowsAreTheSameBitsInPlaceAndOnPanels(String op, int path) throws Exception {
    SplittableRandom rnd = new SplittableRandom(74);
    boolean int4 = op.equals(NativeKernels.Q4_MATMUL);
    for (int[] shape : new int[][] {{1000, 130}, {96, 16}, {33, 70}}) {
      int k = shape[0];
      int n = shape[1];
      float[][] w =
          int4
              ? NativeQ4MatMulTest.randomWeight(rnd, k, n)
              : NativeQ8MatMulTest.randomWeight(rnd, k, n);
      int m = 40;
      float[] x = activations(rnd, m, k);
      try (TUint8 packed = int4 ? NativeQ4MatMulTest.packed(w) : NativeQ8MatMulTest.packed(w);
          NativeQ8MatMulTest.Product p = product(op, packed, n, 2, 1, path)) {
        float[] all = p.run(x, m, k, n);
        for (int few : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 17, 32}) {
          float[] part = p.run(Arrays.copyOf(x, few * k), few, k, n);
          assertArrayEquals(Arrays.copyOf(all, few * n), part, few + " rows, " + k + "x" + n);
        }
      }
    }
  }

  @Test
  void fewerRowsThanTheThresholdKeepFloatActivations() throws Exception {
    SplittableRandom rnd = new SplittableRandom(72);
    int k = 96;
    int n = 80;
    float[][] w = NativeQ8MatMulTest.randomWeight(rnd, k, n);
    try (TUint8 packed = NativeQ8MatMulTest.packed(w);
        NativeQ8MatMulTest.Product floats = product(packed, n, 1, 0, -1);
        NativeQ8MatMulTest.Product threshold = product(packed, n, 1, 8, -1);
        NativeQ8MatMulTest.Product ints = product(packed, n, 1, 1, -1)) {
      float[] few = activations(rnd, 7, k);
      assertArrayEquals(floats.run(few, 7, k, n), threshold.run(few, 7, k, n));
      float[] many = activations(rnd, 8, k);
      assertArrayEquals(ints.run(many, 8, k, n), threshold.run(many, 8, k, n));
    }
  }

  @ParameterizedTest(name = "int8 path {0}")
  @ValueSource(ints = {0, 1, 2, 3})
  void aNanActivationMakesItsRowNanAsTheFloatProductDoes(int path) throws Exception {
    SplittableRandom rnd = new SplittableRandom(73);
    int k = 96;
    int n = 70;
    int m = 5;
    float[][] w = NativeQ8MatMulTest.randomWeight(rnd, k, n);
    float[] x = activations(rnd, m, k);
    x[k + 40] = Float.NaN; // row 1, the second block (a vector block)
    x[3 * k + 95] = Float.NaN; // row 3, the last input
    try (TUint8 packed = NativeQ8MatMulTest.packed(w);
        NativeQ8MatMulTest.Product floats = product(packed, n, 1, 0, -1);
        NativeQ8MatMulTest.Product ints = product(packed, n, 1, 1, path)) {
      float[] a = floats.run(x, m, k, n);
      float[] b = ints.run(x, m, k, n);
      for (int i = 0; i < a.length; i++) {
        int row = i / n;
        boolean nanRow = row == 1 || row == 3;
        assertTrue(Float.isNaN(a[i]) == nanRow, "float32 activations, row " + row);
        assertTrue(Float.isNaN(b[i]) == nanRow, "int8 activations, row " + row + ": " + b[i]);
      }
    }
  }
}
