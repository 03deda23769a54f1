package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;

/**
 * The native column-block matmuls, float16, bfloat16 and float32 weights, against float64
 * arithmetic on the weights' values, on each of their paths: the only difference allowed is float32
 * summation.
 */
class NativeColumnBlockMatMulTest {

  /** The packed weight's element, and with it the op. */
  enum Element {
    F16(NativeKernels.F16_MATMUL),
    BF16(NativeKernels.BF16_COLUMN_MATMUL),
    F32(NativeKernels.F32_MATMUL);

    /** Whether the packed element is 16 bits wide. */
    boolean halfWidth() {
      return this != F32;
    }

    final String op;

    Element(String op) {
      this.op = op;
    }
  }

  /**
   * A weight [k][n] as the op reads it ({@code bits}: half bits for F16, bfloat16 bits for BF16,
   * float bits for F32) and as the reference multiplies it ({@code values}, exact).
   */
  record Weight(Element element, int[][] bits, float[][] values) {

    /**
     * Random weights: for F16 see {@link #randomHalf}, for BF16 the upper halves of {@link
     * #randomFloat}'s values, for F32 see {@link #randomFloat}.
     */
    static Weight random(Element element, int k, int n, SplittableRandom rnd) {
      int[][] bits = new int[k][n];
      float[][] values = new float[k][n];
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < n; j++) {
          if (element == Element.F16) {
            short h = randomHalf(rnd);
            bits[i][j] = h;
            values[i][j] = widen(h);
          } else if (element == Element.BF16) {
            int top = Float.floatToRawIntBits(randomFloat(rnd)) >>> 16;
            bits[i][j] = (short) top;
            values[i][j] = Float.intBitsToFloat(top << 16);
          } else {
            values[i][j] = randomFloat(rnd);
            bits[i][j] = Float.floatToRawIntBits(values[i][j]);
          }
        }
      }
      return new Weight(element, bits, values);
    }
  }

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  /** IEEE half bits to float, exactly (subnormals included), independently of the kernel. */
  static float widen(short h) {
    int sign = (h & 0x8000) != 0 ? -1 : 1;
    int exp = (h >>> 10) & 0x1f;
    int man = h & 0x3ff;
    if (exp == 0x1f) {
      return man == 0 ? sign * Float.POSITIVE_INFINITY : Float.NaN;
    }
    return exp == 0 ? sign * man * 0x1p-24f : sign * (1024 + man) * Math.scalb(1f, exp - 25);
  }

  /**
   * Random half bits: magnitudes from 2^-10 to 2, with zeros and subnormals among them (the
   * widening must be exact for every finite half).
   */
  static short randomHalf(SplittableRandom rnd) {
    int sign = rnd.nextBoolean() ? 0x8000 : 0;
    int kind = rnd.nextInt(20);
    int exp = kind == 0 ? 0 : 5 + rnd.nextInt(11);
    int man = kind == 1 ? 0 : rnd.nextInt(1024);
    return (short) (sign | exp << 10 | man);
  }

  /**
   * Random float32 weights: magnitudes from 2^-20 to 4 with every mantissa bit random, zeros and
   * float32 subnormals among them.
   */
  static float randomFloat(SplittableRandom rnd) {
    int kind = rnd.nextInt(20);
    if (kind == 0) {
      return 0f;
    }
    float sign = rnd.nextBoolean() ? -1f : 1f;
    if (kind == 1) {
      return sign * Float.intBitsToFloat(1 + rnd.nextInt(0x7fffff));
    }
    return sign * Math.scalb(1f + rnd.nextInt(1 << 23) * 0x1p-23f, rnd.nextInt(-20, 2));
  }

  /** W [k][n] (element bits) packed [ceil(n / 64) * 4, k, 16], zero past n. */
  static int[] pack(int[][] w, int k, int n) {
    int nb = (n + 63) / 64 * 4;
    int[] p = new int[nb * k * 16];
    for (int row = 0; row < k; row++) {
      for (int col = 0; col < n; col++) {
        p[((col / 16) * k + row) * 16 + col % 16] = w[row][col];
      }
    }
    return p;
  }

  /**
   * Runs the op once: y [m, n] for x [m, k] and a packed weight (element bits) of {@code blocks}
   * blocks.
   */
  static float[] run(
      Element element,
      float[] x,
      int m,
      int k,
      int[] packed,
      int blocks,
      int n,
      int threads,
      int path) {
    Shape shape = Shape.of(blocks, packed.length / (16L * blocks), 16);
    try (Graph g = new Graph();
        org.tensorflow.types.family.TType wt =
            switch (element) {
              case F16 -> TFloat16.tensorOf(shape);
              case BF16 -> TBfloat16.tensorOf(shape);
              case F32 -> TFloat32.tensorOf(shape);
            };
        TFloat32 xt = TFloat32.tensorOf(Shape.of(m, k), DataBuffers.of(x))) {
      // The bits as they are, not through TensorFlow Java's float conversion.
      if (element.halfWidth()) {
        short[] halves = new short[packed.length];
        for (int i = 0; i < halves.length; i++) {
          halves[i] = (short) packed[i];
        }
        wt.asRawTensor().data().asShorts().write(halves);
      } else {
        wt.asRawTensor().data().asInts().write(packed);
      }
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> xp = tf.placeholder(TFloat32.class);
      Output<TFloat32> y =
          tf.scope()
              .opBuilder(element.op, "mm")
              .addInput(xp.asOutput())
              .addInput(tf.constantOf(wt).asOutput())
              .setAttr("n", (long) n)
              .setAttr("num_threads", (long) threads)
              .setAttr("path", (long) path)
              .build()
              .output(0);
      try (Session s = new Session(g);
          Result r = s.runner().feed(xp, xt).fetch(y).run()) {
        TFloat32 out = (TFloat32) r.get(0);
        assertEquals(Shape.of(m, n), out.shape());
        float[] data = new float[m * n];
        out.asRawTensor().data().asFloats().read(data);
        return data;
      }
    }
  }

  @ParameterizedTest(name = "{0} path {1}")
  @CsvSource({
    "F16, 0", "F16, 1", "F16, 2", "F16, -1",
    "BF16, 0", "BF16, 1", "BF16, 2", "BF16, -1",
    "F32, 0", "F32, 1", "F32, 2", "F32, -1"
  })
  void equalsFloat32ArithmeticOnTheWeightsValues(Element element, int path) {
    int[][] shapes = { // m, k, n: decode rows, row groups, two row blocks; n off 16 and 64
      {1, 64, 64},
      {1, 1000, 130},
      {3, 70, 100},
      {4, 129, 65},
      {17, 96, 130},
      {32, 257, 33},
      {300, 200, 200},
      {300, 1, 17}
    };
    SplittableRandom rnd = new SplittableRandom(path + 20 + 100 * element.ordinal());
    for (int[] shape : shapes) {
      int m = shape[0];
      int k = shape[1];
      int n = shape[2];
      Weight w = Weight.random(element, k, n, rnd);
      float[] x = new float[m * k];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextDouble() * 2 - 1);
      }
      // float64 sums of exact products; float32 summation of k terms may differ from them by at
      // most k * 2^-24 * sum |x w|.
      double[] expected = new double[m * n];
      double[] bound = new double[m * n];
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double acc = 0;
          double mag = 0;
          for (int i = 0; i < k; i++) {
            double p = (double) x[r * k + i] * w.values()[i][c];
            acc += p;
            mag += Math.abs(p);
          }
          expected[r * n + c] = acc;
          bound[r * n + c] = k * 0x1p-24 * mag + 1e-30;
        }
      }
      int[] packed = pack(w.bits(), k, n);
      int blocks = (n + 63) / 64 * 4;
      for (int threads : new int[] {1, 2}) {
        float[] got = run(element, x, m, k, packed, blocks, n, threads, path);
        String what =
            element + " path " + path + ", threads " + threads + ", shape " + m + "x" + k + "x" + n;
        for (int i = 0; i < got.length; i++) {
          double err = Math.abs(got[i] - expected[i]);
          if (!(err <= bound[i])) {
            throw new AssertionError(
                what
                    + ": row "
                    + i / n
                    + " column "
                    + i % n
                    + " is "
                    + got[i]
                    + ", expected "
                    + expected[i]
                    + " within "
                    + bound[i]);
          }
        }
      }
    }
  }

  @ParameterizedTest(name = "{0} path {1}")
  @CsvSource({
    "F16, 0", "F16, 1", "F16, 2", "F16, -1",
    "BF16, 0", "BF16, 1", "BF16, 2", "BF16, -1",
    "F32, 0", "F32, 1", "F32, 2", "F32, -1"
  })
  void aRowsResultIsTheSameBitsHoweverManyRowsShareTheCall(Element element, int path) {
    // k past one panel, so that row groups that buffer the panel and those that do not both sum
    // over several panels.
    int k = 1100;
    int n = 130;
    int m = 37;
    SplittableRandom rnd = new SplittableRandom(path + 50 + 100 * element.ordinal());
    Weight w = Weight.random(element, k, n, rnd);
    float[] x = new float[m * k];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextDouble() * 2 - 1);
    }
    int[] packed = pack(w.bits(), k, n);
    int blocks = (n + 63) / 64 * 4;
    float[] all = run(element, x, m, k, packed, blocks, n, 2, path);
    for (int rows : new int[] {1, 2, 3, 4, 5, 9}) {
      for (int first = 0; first + rows <= m; first += 11) {
        float[] part = java.util.Arrays.copyOfRange(x, first * k, (first + rows) * k);
        float[] got = run(element, part, rows, k, packed, blocks, n, 1, path);
        for (int i = 0; i < got.length; i++) {
          int row = first + i / n;
          assertEquals(
              Float.floatToRawIntBits(all[row * n + i % n]),
              Float.floatToRawIntBits(got[i]),
              element
                  + " path "
                  + path
                  + ": row "
                  + row
                  + " column "
                  + i % n
                  + " alone in "
                  + rows
                  + " rows");
        }
      }
    }
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.EnumSource(Element.class)
  void aWeightOfAnotherInputWidthIsRefused(Element element) {
    int[] packed = new int[4 * 96 * 16];
    TFInvalidArgumentException e =
        assertThrows(
            TFInvalidArgumentException.class,
            () -> run(element, new float[2 * 64], 2, 64, packed, 4, 64, 1, -1));
    assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.EnumSource(Element.class)
  void moreColumnsThanTheBlocksHoldAreRefused(Element element) {
    int[] packed = new int[4 * 8 * 16];
    TFInvalidArgumentException e =
        assertThrows(
            TFInvalidArgumentException.class,
            () -> run(element, new float[8], 1, 8, packed, 4, 65, 1, -1));
    assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
  }
}
