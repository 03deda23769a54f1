package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.DType;

/**
 * Element type of the weights of the model's matmuls. Everything else (norms, attention, the KV
 * cache, logits) stays float32.
 */
public enum MatmulPrecision {
  /** Exact: matches the float32 reference within 1e-4. The Java API's default. */
  FLOAT32,
  /**
   * Half the weight bytes; with the native kernels on an AMX CPU the fastest setting at every batch
   * size, otherwise oneDNN's bfloat16 kernels (faster for many rows, slower for one). Logits within
   * about 1e-2 of float32, so greedy outputs may differ from a float32 run.
   */
  BFLOAT16,
  /**
   * Faithful to the checkpoint: never rounds its weights to a narrower type. BFLOAT16 for weights
   * stored as bfloat16 where the native bfloat16 matmul runs (an AMX CPU), FLOAT32 otherwise:
   * float16 weights (llava-1.5's) widen exactly to float32, and bfloat16 ones too where only
   * oneDNN's bfloat16 kernels would run them (slower than float32 for the few rows of decoding).
   * The server's default. Resolved when the model loads.
   */
  AUTO;

  /**
   * This choice for a checkpoint whose decoder weights are stored as {@code stored}, with {@code
   * kernels} on this machine.
   */
  public MatmulPrecision resolve(DType stored, Kernels kernels) {
    if (this != AUTO) {
      return this;
    }
    return stored == DType.BF16 && kernels.nativeBf16MatMul() ? BFLOAT16 : FLOAT32;
  }
}
