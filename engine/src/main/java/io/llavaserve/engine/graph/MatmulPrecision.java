package io.llavaserve.engine.graph;

/**
 * Element type of the weights of the model's matmuls. Everything else (norms, attention, the KV
 * cache, logits) stays float32.
 */
public enum MatmulPrecision {
  /** Exact: matches the float32 reference within 1e-4. The default. */
  FLOAT32,
  /**
   * Half the weight bytes and, on CPUs with AMX or AVX512-BF16, oneDNN's bfloat16 kernels: much
   * faster matmuls for many rows (prefill, large decode batches), slower for a single row, and
   * logits within about 1e-2 of float32, so greedy outputs may differ from a float32 run.
   */
  BFLOAT16
}
