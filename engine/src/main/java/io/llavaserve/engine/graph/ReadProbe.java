package io.llavaserve.engine.graph;

import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The memory read bandwidth this CPU's cores reach, measured by the native {@code LlavaReadProbe}
 * (a buffer beyond the last-level cache read whole, each thread its own share, on the widest
 * vectors the CPU has): the ceiling of a decode step that streams its weights once, beside {@link
 * MatmulProbe}'s 1-row matmul, which reads at the pace of TensorFlow's kernel rather than the
 * memory's.
 */
public final class ReadProbe {

  private ReadProbe() {}

  /**
   * GB/s (10^9 bytes) on {@code threads} threads, the best of three passes over {@code megabytes}
   * MiB, on at most vector path {@code path} (-1 the best; 0 plain, 1 AVX2, 2 AVX-512); NaN without
   * the native kernels.
   */
  public static double measure(int threads, int megabytes, int path) {
    if (!NativeKernels.available()) {
      return Double.NaN;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> y =
          tf.scope()
              .opBuilder(NativeKernels.READ_PROBE, "read_probe")
              .addInput(tf.constant(megabytes).asOutput())
              .setAttr("num_threads", (long) threads)
              .setAttr("path", (long) path)
              .build()
              .output(0);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(y).run()) {
        return ((TFloat32) r.get(0)).getFloat();
      }
    }
  }

  /** {@link #measure(int, int, int)} on the best path over 512 MiB. */
  public static double measure(int threads) {
    return measure(threads, 512, -1);
  }
}
