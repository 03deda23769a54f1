package io.llavaserve.engine.graph;

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
   * Follows the checkpoint, as vLLM's CPU backend does: BFLOAT16 for weights stored in 16 bits
   * (float16 or bfloat16, as llava-1.5 checkpoints are), FLOAT32 for float32 weights. The server's
   * default. Resolved when the model loads.
   */
  AUTO;

  /** This choice for a checkpoint whose decoder weights are stored {@code bytesPerWeight} wide. */
  public MatmulPrecision resolve(int bytesPerWeight) {
    if (this != AUTO) {
      return this;
    }
    return bytesPerWeight <= 2 ? BFLOAT16 : FLOAT32;
  }
}
