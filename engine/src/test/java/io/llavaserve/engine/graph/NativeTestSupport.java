package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.runner.KvCacheConfig;

/** What the native-kernel tests share. */
final class NativeTestSupport {

  private NativeTestSupport() {}

  /** Skips where the build had no gcc; where it did, the library must load. */
  static void assumeNativeOpsBuilt() {
    assumeTrue(
        NativeKernels.class.getResource(
                "/io/llavaserve/engine/graph/native/linux-x86_64/libllava_ops.so")
            != null,
        "libllava_ops.so was not built on this machine (no gcc)");
    assertTrue(NativeKernels.available(), NativeKernels::unavailableReason);
  }

  static TfModelRunner load(
      Checkpoint ckpt, KvCacheConfig cache, MatmulPrecision precision, Kernels kernels)
      throws CheckpointException {
    return TfModelRunner.load(ckpt, cache, TfModelRunner.Threads.defaults(), precision, kernels);
  }
}
