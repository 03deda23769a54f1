package io.llavaserve.engine.graph;

import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The float32 fused multiply-add throughput of this CPU's cores, measured by the native {@code
 * LlavaFmaProbe} (independent FMA chains on the widest vectors the CPU has, no memory traffic): the
 * ceiling a GEMM-shaped matmul could approach, beside {@link MatmulProbe}'s practical one.
 */
public final class FmaProbe {

  private FmaProbe() {}

  /**
   * GFLOP/s (a multiply-add counted as two) on {@code threads} threads, the best of three calls of
   * {@code iterations} rounds per thread, on at most vector path {@code path} (-1 the best; 0
   * plain, 1 AVX2, 2 AVX-512); NaN without the native kernels.
   */
  public static double measure(int threads, int iterations, int path) {
    return scalarProbe(NativeKernels.FMA_PROBE, iterations, threads, path, 3);
  }

  /**
   * The best of {@code runs} calls of the native probe {@code op} (an int32 scalar argument in, a
   * float scalar rate out) on {@code threads} threads and at most vector path {@code path}; NaN
   * without the native kernels.
   */
  static double scalarProbe(String op, int argument, int threads, int path, int runs) {
    if (!NativeKernels.available()) {
      return Double.NaN;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> y =
          tf.scope()
              .opBuilder(op, "probe")
              .addInput(tf.constant(argument).asOutput())
              .setAttr("num_threads", (long) threads)
              .setAttr("path", (long) path)
              .build()
              .output(0);
      try (Session s = new Session(g)) {
        double best = 0;
        for (int i = 0; i < runs; i++) {
          try (Result r = s.runner().fetch(y).run()) {
            best = Math.max(best, ((TFloat32) r.get(0)).getFloat());
          }
        }
        return best;
      }
    }
  }

  /** {@link #measure(int, int, int)} on the best path, 20 million rounds a thread. */
  public static double measure(int threads) {
    return measure(threads, 20_000_000, -1);
  }
}
