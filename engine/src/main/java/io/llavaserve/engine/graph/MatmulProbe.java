package io.llavaserve.engine.graph;

import java.util.Arrays;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.VarHandleOp;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * Measures what TensorFlow's own matmul reaches on this machine, with the same threading as the
 * model, so benchmark figures can be read as a fraction of the hardware's practical peak.
 */
public final class MatmulProbe {

  /** One measurement: {@code [rows, in] x [in, out]} with the weight resident on the device. */
  public record Result(int rows, int in, int out, double seconds) {
    public double gflops() {
      return 2.0 * rows * in * out / seconds / 1e9;
    }

    /** Weight bytes streamed per second, the bound for few rows. */
    public double weightGBps() {
      return 4.0 * in * out / seconds / 1e9;
    }
  }

  private MatmulProbe() {}

  /** Median of {@code reps} timed runs after two warm-ups. */
  public static Result measure(int rows, int in, int out, int reps, TfModelRunner.Threads threads) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VarHandleOp w = tf.varHandleOp(TFloat32.class, Shape.of(out, in));
      var init =
          tf.assignVariableOp(
              w, tf.random.randomUniform(tf.constant(new int[] {out, in}), TFloat32.class));
      Placeholder<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(rows, in)));
      Operand<TFloat32> y =
          tf.linalg.matMul(x, tf.readVariableOp(w, TFloat32.class), MatMul.transposeB(true));
      ConfigProto proto =
          ConfigProto.newBuilder()
              .setIntraOpParallelismThreads(threads.intraOp())
              .setInterOpParallelismThreads(threads.interOp())
              .build();
      try (Session s = new Session(g, proto);
          TFloat32 input = TFloat32.tensorOf(Shape.of(rows, in))) {
        s.runner().addTarget(init).run();
        double[] times = new double[reps];
        for (int i = -2; i < reps; i++) {
          long t0 = System.nanoTime();
          try (org.tensorflow.Result r = s.runner().feed(x, input).fetch(y).run()) {
            // fetched to force the computation
          }
          if (i >= 0) {
            times[i] = (System.nanoTime() - t0) / 1e9;
          }
        }
        Arrays.sort(times);
        return new Result(rows, in, out, times[reps / 2]);
      }
    }
  }
}
