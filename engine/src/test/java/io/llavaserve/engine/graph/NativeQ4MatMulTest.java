package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.quantization.Q4Block;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TUint8;

/**
 * The native int4 (Q4) matmul, on each of its paths, and the stock-op dequantization that stands in
 * for it, against plain float64 loops over the dequantized weights {@code u * d + m}: the only
 * difference allowed is float32 rounding; and a row's result is the same bits however many rows
 * share the call.
 */
class NativeQ4MatMulTest {

  /** Rows of each step: decode batches 1 to 64 (every micro-kernel remainder), then prefill. */
  private static final int[] ROWS = rows();

  /**
   * k, n: inputs on and off the 32-input blocks (odd and even counts of blocks, an odd number of
   * inputs in the last), outputs on and off the 16- and 64-column edges.
   */
  private static final int[][] SHAPES = {
    {32, 64},
    {1, 1},
    {31, 17},
    {33, 130},
    {70, 100},
    {129, 65},
    {160, 63},
    {288, 200},
    {1000, 33},
    {96, 16}
  };

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  private static int[] rows() {
    int[] rows = new int[64 + 2];
    for (int i = 0; i < 64; i++) {
      rows[i] = i + 1;
    }
    rows[64] = 257; // past one task's 256 rows
    rows[65] = 300;
    return rows;
  }

  /** W's rows in the checkpoint's layout: output c's k inputs. */
  static WeightRows rowsOf(float[][] w) {
    return new WeightRows() {
      @Override
      public void read(int row, float[] dst) {
        for (int i = 0; i < w.length; i++) {
          dst[i] = w[i][row];
        }
      }

      @Override
      public String element(int row, int column) {
        return "W^T[" + row + ", " + column + "]";
      }
    };
  }

  /**
   * W dequantized, u * d + m in float64 (exact), quantized here block by block with {@link Q4Block}
   * on its own, apart from the packing; {@code magnitude} gets u * |d| + |m|, what the kernel's two
   * sums per block are rounded against.
   */
  static double[][] dequantized(float[][] w, double[][] magnitude) {
    int k = w.length;
    int n = w[0].length;
    double[][] d = new double[k][n];
    float[] row = new float[k];
    byte[] u = new byte[Q4Block.SIZE];
    for (int c = 0; c < n; c++) {
      for (int i = 0; i < k; i++) {
        row[i] = w[i][c];
      }
      for (int from = 0; from < k; from += Q4Block.SIZE) {
        int length = Math.min(Q4Block.SIZE, k - from);
        Q4Block.Header h = Q4Block.quantize(row, from, length, u, 0);
        for (int i = 0; i < length; i++) {
          d[from + i][c] = (double) u[i] * h.stepValue() + h.minimumValue();
          magnitude[from + i][c] = u[i] * (double) h.stepValue() + Math.abs(h.minimumValue());
        }
      }
    }
    return d;
  }

  static TUint8 packed(float[][] w) throws CheckpointException {
    int k = w.length;
    int n = w[0].length;
    TUint8 t = TUint8.tensorOf(Shape.of(Q4Packing.shape(k, n)));
    try {
      Q4Packing.pack(rowsOf(w), k, n, t.asRawTensor().data());
    } catch (CheckpointException | RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  /** The native op on a packed weight, with {@code path} and {@code threads}. */
  static NativeQ8MatMulTest.Product nativeProduct(TUint8 packed, int n, int threads, int path) {
    Graph g = new Graph();
    Ops tf = Ops.create(g);
    Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
    Operand<TFloat32> y =
        tf.scope()
            .opBuilder(NativeKernels.Q4_MATMUL, "mm")
            .addInput(x.asOutput())
            .addInput(tf.constantOf(packed).asOutput())
            .setAttr("n", (long) n)
            .setAttr("num_threads", (long) threads)
            .setAttr("path", (long) path)
            .build()
            .output(0);
    return new NativeQ8MatMulTest.Product(g, new Session(g), x, y);
  }

  /** What the graph runs where the native kernel does not: the weight dequantized by stock ops. */
  static NativeQ8MatMulTest.Product stockProduct(TUint8 packed, int k, int n) {
    Graph g = new Graph();
    Ops tf = Ops.create(g);
    GraphOps ops = new GraphOps(tf, 1, false, false);
    Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
    Operand<TFloat32> y = ops.linear(x, Linear.q4(tf.constantOf(packed), k, n));
    return new NativeQ8MatMulTest.Product(g, new Session(g), x, y);
  }

  private static float[] randomInputs(SplittableRandom rnd, int count) {
    float[] x = new float[count];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextDouble() * 2 - 1);
    }
    return x;
  }

  /**
   * Runs {@code product} for every m of {@link #ROWS} and checks each row against a plain loop over
   * the dequantized weights.
   */
  private static void assertMatches(
      String what, NativeQ8MatMulTest.Product product, float[][] w, SplittableRandom rnd) {
    int k = w.length;
    int n = w[0].length;
    double[][] magnitude = new double[k][n];
    double[][] d = dequantized(w, magnitude);
    for (int m : ROWS) {
      float[] x = randomInputs(rnd, m * k);
      float[] got = product.run(x, m, k, n);
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double acc = 0;
          double mag = 0;
          for (int i = 0; i < k; i++) {
            acc += x[r * k + i] * d[i][c];
            mag += Math.abs(x[r * k + i]) * magnitude[i][c];
          }
          // float32 sums of k terms and of the block sums times the steps and minimums, or (stock
          // ops) u * d + m rounded first.
          double bound = (2.0 * k + 70) * 0x1p-24 * mag + 1e-30;
          double err = Math.abs(got[r * n + c] - acc);
          if (!(err <= bound)) {
            throw new AssertionError(
                String.format(
                    "%s, %dx%dx%d: row %d column %d is %s, expected %s within %s",
                    what, m, k, n, r, c, got[r * n + c], acc, bound));
          }
        }
      }
    }
  }

  /** A weight W [k][n]: magnitudes varying by column and block, shifted blocks, outliers, zeros. */
  static float[][] randomWeight(SplittableRandom rnd, int k, int n) {
    float[][] w = new float[k][n];
    for (int c = 0; c < n; c++) {
      for (int j = 0; j * Q4Block.SIZE < k; j++) {
        int kind = rnd.nextInt(10);
        double scale = kind == 0 ? 0 : Math.pow(10, rnd.nextInt(-4, 2));
        double shift = kind == 2 ? 3 * scale : 0;
        for (int i = j * Q4Block.SIZE; i < Math.min(k, (j + 1) * Q4Block.SIZE); i++) {
          w[i][c] =
              (float) (rnd.nextGaussian() * scale * (kind == 1 && i % 7 == 0 ? 30 : 1) + shift);
        }
      }
    }
    return w;
  }

  @ParameterizedTest(name = "path {0}")
  @ValueSource(ints = {0, 1, 2, -1})
  void equalsFloat32ArithmeticOnTheDequantizedWeights(int path) throws Exception {
    SplittableRandom rnd = new SplittableRandom(path + 60);
    for (int[] shape : SHAPES) {
      float[][] w = randomWeight(rnd, shape[0], shape[1]);
      try (TUint8 packed = packed(w)) {
        for (int threads : new int[] {1, 2}) {
          try (NativeQ8MatMulTest.Product p = nativeProduct(packed, shape[1], threads, path)) {
            assertMatches("path " + path + ", threads " + threads, p, w, rnd);
          }
        }
      }
    }
  }

  @ParameterizedTest(name = "path {0}")
  @ValueSource(ints = {0, 1, 2, -1})
  void aRowsResultIsTheSameBitsHoweverManyRowsShareTheCall(int path) throws Exception {
    // 35 blocks of 32 inputs and one of 12; 130 columns: two full tiles and two columns.
    int k = 1132;
    int n = 130;
    int m = 37;
    SplittableRandom rnd = new SplittableRandom(path + 70);
    float[][] w = randomWeight(rnd, k, n);
    float[] x = randomInputs(rnd, m * k);
    try (TUint8 packed = packed(w);
        NativeQ8MatMulTest.Product all = nativeProduct(packed, n, 2, path);
        NativeQ8MatMulTest.Product few = nativeProduct(packed, n, 1, path)) {
      float[] together = all.run(x, m, k, n);
      for (int rows = 1; rows <= 9; rows++) {
        for (int first = 0; first + rows <= m; first += 7) {
          float[] part = Arrays.copyOfRange(x, first * k, (first + rows) * k);
          float[] got = few.run(part, rows, k, n);
          for (int i = 0; i < got.length; i++) {
            int row = first + i / n;
            assertEquals(
                Float.floatToRawIntBits(together[row * n + i % n]),
                Float.floatToRawIntBits(got[i]),
                "path " + path + ": row " + row + " column " + i % n + " in " + rows + " rows");
          }
        }
      }
    }
  }

  @Test
  void stockOpsDequantizeTheSameBlocks() throws Exception {
    SplittableRandom rnd = new SplittableRandom(61);
    for (int[] shape : SHAPES) {
      float[][] w = randomWeight(rnd, shape[0], shape[1]);
      try (TUint8 packed = packed(w);
          NativeQ8MatMulTest.Product p = stockProduct(packed, shape[0], shape[1])) {
        assertMatches("stock ops", p, w, rnd);
      }
    }
  }

  /**
   * The tests above hold every path to the dequantized weights; this holds the dequantized weights
   * to the float ones: Q4 keeps each within half a step of its block, so a product stays close.
   */
  @Test
  void theProductStaysWithinHalfAStepPerWeightOfTheFloatProduct() throws Exception {
    SplittableRandom rnd = new SplittableRandom(62);
    int k = 300;
    int n = 70;
    float[][] w = randomWeight(rnd, k, n);
    int m = 5;
    float[] x = randomInputs(rnd, m * k);
    double largest = 0;
    try (TUint8 packed = packed(w);
        NativeQ8MatMulTest.Product p = nativeProduct(packed, n, 1, -1)) {
      float[] got = p.run(x, m, k, n);
      byte[] u = new byte[Q4Block.SIZE];
      float[] column = new float[k];
      for (int c = 0; c < n; c++) {
        for (int i = 0; i < k; i++) {
          column[i] = w[i][c];
        }
        for (int r = 0; r < m; r++) {
          double exact = 0;
          double mag = 0;
          double bound = 0; // half a step of each weight's block, times its input
          for (int from = 0; from < k; from += Q4Block.SIZE) {
            int length = Math.min(Q4Block.SIZE, k - from);
            double step = Q4Block.quantize(column, from, length, u, 0).stepValue();
            for (int i = from; i < from + length; i++) {
              exact += x[r * k + i] * (double) w[i][c];
              mag += Math.abs(x[r * k + i]) * (Math.abs(w[i][c]) + step * 31);
              bound += Math.abs(x[r * k + i]) * step / 2;
            }
          }
          bound += (2.0 * k + 70) * 0x1p-24 * mag; // and float32 rounding
          double err = Math.abs(got[r * n + c] - exact);
          assertTrue(err <= bound, "row " + r + " column " + c + ": " + err + " > " + bound);
          largest = Math.max(largest, err);
        }
      }
    }
    assertTrue(largest > 1e-4, "int4 should not be exact: " + largest);
  }

  @Test
  void aWeightOfAnotherInputWidthIsRefused() throws Exception {
    float[][] w = new float[96][64];
    try (TUint8 packed = packed(w);
        NativeQ8MatMulTest.Product p = nativeProduct(packed, 64, 1, -1)) {
      TFInvalidArgumentException e =
          assertThrows(TFInvalidArgumentException.class, () -> p.run(new float[2 * 64], 2, 64, 64));
      assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
    }
  }

  @Test
  void moreColumnsThanTheBlocksHoldAreRefused() throws Exception {
    float[][] w = new float[8][64];
    try (TUint8 packed = packed(w);
        NativeQ8MatMulTest.Product p = nativeProduct(packed, 65, 1, -1)) {
      TFInvalidArgumentException e =
          assertThrows(TFInvalidArgumentException.class, () -> p.run(new float[8], 1, 8, 65));
      assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
    }
  }

  @ParameterizedTest
  @ValueSource(floats = {Float.NaN, Float.NEGATIVE_INFINITY, -70000f})
  void aWeightFloat16CannotBoundIsRefusedNamingItsElement(float bad) {
    float[][] w = new float[40][20];
    w[35][18] = bad;
    CheckpointException e = assertThrows(CheckpointException.class, () -> packed(w).close());
    assertTrue(e.getMessage().contains("W^T[18, 35] is " + bad), e.getMessage());
    assertTrue(e.getMessage().contains("needs finite weights within +-65504"), e.getMessage());
  }
}
