package io.llavaserve.engine.graph;

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
    return FmaProbe.scalarProbe(NativeKernels.READ_PROBE, megabytes, threads, path, 1);
  }

  /** {@link #measure(int, int, int)} on the best path over 512 MiB. */
  public static double measure(int threads) {
    return measure(threads, 512, -1);
  }
}
