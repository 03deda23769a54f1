package io.llavaserve.engine.graph;

/** How decode attention reads the paged KV cache. */
public enum AttentionKernel {
  /** The native kernel where it loads on this machine, the graph ops otherwise. */
  AUTO,
  /**
   * The native {@code LlavaPagedAttention} op: reads each sequence's blocks in place from the pool
   * variables, so the keys and values cross memory once per layer. Loading fails where the library
   * is not available.
   */
  NATIVE,
  /**
   * Stock TensorFlow ops only: gathers each sequence's blocks into a new tensor, then multiplies.
   * Works everywhere; moves the KV bytes about three times per layer.
   */
  GRAPH;

  /** What this choice means on this machine: AUTO becomes NATIVE or GRAPH. */
  public AttentionKernel resolve() {
    return switch (this) {
      case AUTO -> NativeKernels.available() ? NATIVE : GRAPH;
      case NATIVE -> {
        if (!NativeKernels.available()) {
          throw new IllegalStateException(
              "the native attention kernel is not available: " + NativeKernels.unavailableReason());
        }
        yield NATIVE;
      }
      case GRAPH -> GRAPH;
    };
  }
}
