package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.quantization.Q8Block;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TUint8;

/**
 * The native int8 (Q8) matmul, on each of its paths, and the stock-op dequantization that stands in
 * for it, against float64 sums over the dequantized weights {@code q * scale}: the only difference
 * allowed is float32 rounding.
 */
class NativeQ8MatMulTest {

  /** Rows of each step: decode batches 1 to 64 (every micro-kernel remainder), then prefill. */
  private static final int[] ROWS = rows();

  /**
   * k, n: inputs on and off the 32-input blocks, outputs on and off the 16- and 64-column edges.
   */
  private static final int[][] SHAPES = {
    {32, 64}, {1, 1}, {31, 17}, {33, 130}, {70, 100}, {129, 65}, {1000, 33}, {96, 16}
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

  /** A weight W [k][n]: magnitudes varying by column and block, zero blocks, outliers. */
  static float[][] randomWeight(SplittableRandom rnd, int k, int n) {
    float[][] w = new float[k][n];
    for (int c = 0; c < n; c++) {
      for (int j = 0; j * Q8Block.SIZE < k; j++) {
        int kind = rnd.nextInt(10);
        double scale = kind == 0 ? 0 : Math.pow(10, rnd.nextInt(-4, 2));
        for (int i = j * Q8Block.SIZE; i < Math.min(k, (j + 1) * Q8Block.SIZE); i++) {
          w[i][c] = (float) (rnd.nextGaussian() * scale * (kind == 1 && i % 7 == 0 ? 30 : 1));
        }
      }
    }
    return w;
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
   * W dequantized, q * scale in float64 (exact), quantized here block by block with {@link Q8Block}
   * on its own, apart from the packing.
   */
  static double[][] dequantized(float[][] w) {
    int k = w.length;
    int n = w[0].length;
    double[][] d = new double[k][n];
    float[] row = new float[k];
    byte[] q = new byte[Q8Block.SIZE];
    for (int c = 0; c < n; c++) {
      for (int i = 0; i < k; i++) {
        row[i] = w[i][c];
      }
      for (int from = 0; from < k; from += Q8Block.SIZE) {
        int length = Math.min(Q8Block.SIZE, k - from);
        float scale = Q8Block.quantize(row, from, length, q, 0);
        for (int i = 0; i < length; i++) {
          d[from + i][c] = (double) q[i] * scale;
        }
      }
    }
    return d;
  }

  static TUint8 packed(float[][] w) throws CheckpointException {
    int k = w.length;
    int n = w[0].length;
    TUint8 t = TUint8.tensorOf(Shape.of(Q8Packing.shape(k, n)));
    try {
      Q8Packing.pack(rowsOf(w), k, n, t.asRawTensor().data());
    } catch (CheckpointException | RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  /** One product, x [m, k] @ W, in a session that runs {@code y} for every m it is fed. */
  record Product(Graph graph, Session session, Placeholder<TFloat32> x, Operand<TFloat32> y)
      implements AutoCloseable {
    float[] run(float[] xs, int m, int k, int n) {
      try (TFloat32 xt = TFloat32.tensorOf(Shape.of(m, k), DataBuffers.of(xs));
          Result r = session.runner().feed(x, xt).fetch(y).run()) {
        TFloat32 out = (TFloat32) r.get(0);
        assertEquals(Shape.of(m, n), out.shape());
        float[] data = new float[m * n];
        out.asRawTensor().data().asFloats().read(data);
        return data;
      }
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }

  /** The native op on a packed weight, with {@code path} and {@code threads}. */
  static Product nativeProduct(TUint8 packed, int n, int threads, int path) {
    Graph g = new Graph();
    Ops tf = Ops.create(g);
    Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
    Operand<TFloat32> y =
        tf.scope()
            .opBuilder(NativeKernels.Q8_MATMUL, "mm")
            .addInput(x.asOutput())
            .addInput(tf.constantOf(packed).asOutput())
            .setAttr("n", (long) n)
            .setAttr("num_threads", (long) threads)
            .setAttr("path", (long) path)
            .build()
            .output(0);
    return new Product(g, new Session(g), x, y);
  }

  /** What the graph runs where the native kernel does not: the weight dequantized by stock ops. */
  static Product stockProduct(TUint8 packed, int k, int n) {
    Graph g = new Graph();
    Ops tf = Ops.create(g);
    GraphOps ops = new GraphOps(tf, 1, false, false);
    Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
    Operand<TFloat32> y = ops.linear(x, Linear.q8(tf.constantOf(packed), k, n));
    return new Product(g, new Session(g), x, y);
  }

  /**
   * Runs {@code product} for every m of {@link #ROWS} and checks each row against the reference.
   */
  private static void assertMatches(
      String what, Product product, float[][] w, double[][] d, SplittableRandom rnd) {
    int k = w.length;
    int n = w[0].length;
    for (int m : ROWS) {
      float[] x = new float[m * k];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextDouble() * 2 - 1);
      }
      float[] got = product.run(x, m, k, n);
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double acc = 0;
          double mag = 0;
          for (int i = 0; i < k; i++) {
            double p = x[r * k + i] * d[i][c];
            acc += p;
            mag += Math.abs(p);
          }
          // float32 sums of k terms, block sums times their scale, or q * scale rounded first.
          double bound = (2.0 * k + 70) * 0x1p-24 * mag + 1e-30;
          double err = Math.abs(got[r * n + c] - acc);
          if (!(err <= bound)) {
            throw new AssertionError(
                what
                    + ", "
                    + m
                    + "x"
                    + k
                    + "x"
                    + n
                    + ": row "
                    + r
                    + " column "
                    + c
                    + " is "
                    + got[r * n + c]
                    + ", expected "
                    + acc
                    + " within "
                    + bound);
          }
        }
      }
    }
  }

  @ParameterizedTest(name = "path {0}")
  @ValueSource(ints = {0, 1, 2, -1})
  void equalsFloat32ArithmeticOnTheDequantizedWeights(int path) throws Exception {
    SplittableRandom rnd = new SplittableRandom(path + 40);
    for (int[] shape : SHAPES) {
      float[][] w = randomWeight(rnd, shape[0], shape[1]);
      double[][] d = dequantized(w);
      try (TUint8 packed = packed(w)) {
        for (int threads : new int[] {1, 2}) {
          try (Product p = nativeProduct(packed, shape[1], threads, path)) {
            assertMatches("path " + path + ", threads " + threads, p, w, d, rnd);
          }
        }
      }
    }
  }

  @Test
  void stockOpsDequantizeTheSameBlocks() throws Exception {
    SplittableRandom rnd = new SplittableRandom(41);
    for (int[] shape : SHAPES) {
      float[][] w = randomWeight(rnd, shape[0], shape[1]);
      try (TUint8 packed = packed(w);
          Product p = stockProduct(packed, shape[0], shape[1])) {
        assertMatches("stock ops", p, w, dequantized(w), rnd);
      }
    }
  }

  /**
   * The tests above hold every path to the dequantized weights; this holds the dequantized weights
   * to the float ones: Q8 keeps each within half a step, so a product stays close.
   */
  @Test
  void theProductStaysWithinHalfAStepPerWeightOfTheFloatProduct() throws Exception {
    SplittableRandom rnd = new SplittableRandom(42);
    int k = 300;
    int n = 70;
    float[][] w = randomWeight(rnd, k, n);
    int m = 5;
    float[] x = new float[m * k];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextDouble() * 2 - 1);
    }
    List<Double> errors = new ArrayList<>();
    try (TUint8 packed = packed(w);
        Product p = nativeProduct(packed, n, 1, -1)) {
      float[] got = p.run(x, m, k, n);
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double exact = 0;
          double mag = 0;
          double bound = 0; // half a step of each weight's block, times its input
          for (int from = 0; from < k; from += Q8Block.SIZE) {
            double max = 0;
            for (int i = from; i < Math.min(k, from + Q8Block.SIZE); i++) {
              exact += x[r * k + i] * (double) w[i][c];
              mag += Math.abs(x[r * k + i] * (double) w[i][c]);
              max = Math.max(max, Math.abs(w[i][c]));
            }
            for (int i = from; i < Math.min(k, from + Q8Block.SIZE); i++) {
              bound += Math.abs(x[r * k + i]) * max / 127 / 2;
            }
          }
          bound += (2.0 * k + 70) * 0x1p-24 * 2 * mag; // and float32 rounding
          double err = Math.abs(got[r * n + c] - exact);
          assertTrue(err <= bound, "row " + r + " column " + c + ": " + err + " > " + bound);
          errors.add(err);
        }
      }
    }
    assertTrue(errors.stream().anyMatch(e -> e > 1e-6), "int8 should not be exact");
  }

  @Test
  void aWeightOfAnotherInputWidthIsRefused() throws Exception {
    float[][] w = new float[96][64];
    try (TUint8 packed = packed(w);
        Product p = nativeProduct(packed, 64, 1, -1)) {
      TFInvalidArgumentException e =
          assertThrows(TFInvalidArgumentException.class, () -> p.run(new float[2 * 64], 2, 64, 64));
      assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
    }
  }

  @Test
  void moreColumnsThanTheBlocksHoldAreRefused() throws Exception {
    float[][] w = new float[8][64];
    try (TUint8 packed = packed(w);
        Product p = nativeProduct(packed, 65, 1, -1)) {
      TFInvalidArgumentException e =
          assertThrows(TFInvalidArgumentException.class, () -> p.run(new float[8], 1, 8, 65));
      assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
    }
  }

  @Test
  void aNonFiniteWeightIsRefusedNamingItsElement() {
    float[][] w = new float[40][20];
    w[35][18] = Float.NaN;
    CheckpointException e = assertThrows(CheckpointException.class, () -> packed(w).close());
    assertTrue(e.getMessage().contains("W^T[18, 35] is NaN"), e.getMessage());
    assertTrue(e.getMessage().contains("needs finite weights"), e.getMessage());
  }
}
