package io.llavaserve.engine.graph;

import static io.llavaserve.engine.graph.TfModelRunnerTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The fused RMSNorm, residual add with RMSNorm, and SiLU-and-multiply against the stock ops'
 * arithmetic.
 */
class NativeFusedOpsTest {

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  /** Runs one op through GraphOps with the fused ops on or off. */
  private static float[] run(boolean fused, String op, float[] x, int rows, int width, float[] w) {
    try (Graph g = new Graph();
        TFloat32 xt = TFloat32.tensorOf(Shape.of(rows, width), DataBuffers.of(x))) {
      Ops tf = Ops.create(g);
      GraphOps ops = new GraphOps(tf, 2, fused, false);
      Placeholder<TFloat32> xp =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, width)));
      Operand<TFloat32> y =
          op.equals("rms")
              ? ops.rmsNorm(xp, tf.constant(w), 1e-5)
              : ops.gatedActivation("silu", xp, width / 2);
      try (Session s = new Session(g);
          Result r = s.runner().feed(xp, xt).fetch(y).run()) {
        TFloat32 out = (TFloat32) r.get(0);
        float[] data = new float[(int) out.shape().size()];
        out.asRawTensor().data().asFloats().read(data);
        return data;
      }
    }
  }

  /** x + d and the RMSNorm of it through GraphOps.addRmsNorm, with the fused ops on or off. */
  private static float[][] runAddNorm(boolean fused, float[] x, float[] d, int rows, float[] w) {
    int width = w.length;
    try (Graph g = new Graph();
        TFloat32 xt = TFloat32.tensorOf(Shape.of(rows, width), DataBuffers.of(x));
        TFloat32 dt = TFloat32.tensorOf(Shape.of(rows, width), DataBuffers.of(d))) {
      Ops tf = Ops.create(g);
      GraphOps ops = new GraphOps(tf, 2, fused, false);
      Placeholder<TFloat32> xp =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, width)));
      Placeholder<TFloat32> dp =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, width)));
      GraphOps.AddNorm an = ops.addRmsNorm(xp, dp, tf.constant(w), 1e-5);
      try (Session s = new Session(g);
          Result r =
              s.runner().feed(xp, xt).feed(dp, dt).fetch(an.sum()).fetch(an.normed()).run()) {
        float[][] out = new float[2][rows * width];
        for (int i = 0; i < 2; i++) {
          TFloat32 t = (TFloat32) r.get(i);
          if (t.shape().numDimensions() != 2 || t.shape().size(1) != width) {
            throw new AssertionError("output " + i + " has shape " + t.shape());
          }
          t.asRawTensor().data().asFloats().read(out[i]);
        }
        return out;
      }
    }
  }

  @ParameterizedTest(name = "{0} rows of {1}")
  @CsvSource({"1, 64", "3, 70", "40, 1024", "300, 2816"})
  void addAndNormAreTheBitsOfTheTwoApart(int rows, int width) {
    SplittableRandom rnd = new SplittableRandom(rows * 17L + width);
    float[] x = new float[rows * width];
    float[] d = new float[rows * width];
    float[] sum = new float[rows * width];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) ((rnd.nextDouble() * 2 - 1) * (i % 11 == 0 ? 300 : 3));
      d[i] = (float) ((rnd.nextDouble() * 2 - 1) * (i % 5 == 0 ? 50 : 1));
      sum[i] = x[i] + d[i];
    }
    float[] w = new float[width];
    for (int i = 0; i < width; i++) {
      w[i] = (float) (rnd.nextDouble() * 2);
    }
    float[][] fused = runAddNorm(true, x, d, rows, w);
    assertArrayEquals(sum, fused[0], "x + d");
    assertArrayEquals(run(true, "rms", sum, rows, width, w), fused[1], "norm of x + d");
    float[][] stock = runAddNorm(false, x, d, rows, w);
    assertArrayEquals(sum, stock[0], "stock x + d");
    assertClose(stock[1], fused[1], 1e-5, "stock norm of x + d");
  }

  @ParameterizedTest(name = "{0} rows of {1}")
  @CsvSource({"1, 64", "3, 70", "40, 1024", "300, 2816"}) // one task to many, odd widths
  void matchTheStockOps(int rows, int width) {
    SplittableRandom rnd = new SplittableRandom(rows * 31L + width);
    float[] x = new float[rows * width];
    for (int i = 0; i < x.length; i++) {
      // wide enough that the sigmoid saturates both ways
      x[i] = (float) ((rnd.nextDouble() * 2 - 1) * (i % 7 == 0 ? 120 : 4));
    }
    float[] w = new float[width];
    for (int i = 0; i < width; i++) {
      w[i] = (float) (rnd.nextDouble() * 2);
    }
    float[] stockNorm = run(false, "rms", x, rows, width, w);
    assertClose(stockNorm, run(true, "rms", x, rows, width, w), 1e-5, "rms norm");
    float[] stockSilu = run(false, "silu", x, rows, width, w);
    float[] fusedSilu = run(true, "silu", x, rows, width, w);
    for (int i = 0; i < stockSilu.length; i++) {
      double tol = 2e-6 * Math.max(1, Math.abs(stockSilu[i]));
      if (!(Math.abs(stockSilu[i] - fusedSilu[i]) <= tol)) {
        throw new AssertionError(
            "silu*up at " + i + ": stock " + stockSilu[i] + ", fused " + fusedSilu[i]);
      }
    }
  }
}
