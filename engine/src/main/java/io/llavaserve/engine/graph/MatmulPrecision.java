package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.DType;

/**
 * Element type of the weights of the model's matmuls. Everything else (norms, attention, the KV
 * cache, logits) stays float32.
 */
public enum MatmulPrecision {
  /**
   * Exact: matches the float32 reference within 1e-4. With the native kernels the weights are
   * packed once at load in column blocks for {@code LlavaF32MatMul} (a single row streams them at
   * the memory's pace, about twice what TensorFlow's MatMul reached), else TensorFlow's MatMul. The
   * Java API's default.
   */
  FLOAT32,
  /**
   * Half the weight bytes; with the native kernels on an AMX CPU the fastest setting at every batch
   * size, otherwise oneDNN's bfloat16 kernels (faster for many rows, slower for one). Logits within
   * about 1e-2 of float32, so greedy outputs may differ from a float32 run.
   */
  BFLOAT16,
  /**
   * Float16 weights kept as float16 (half the bytes of FLOAT32; decoding, bound by the weight bytes
   * read per step, ran 2.6 times as fast on one stream on an AVX2 CPU), widened to float32 in
   * registers by the native kernel, products and sums in float32: on a float16 checkpoint as exact
   * as FLOAT32 (the same arithmetic up to the order of summation). Other checkpoints' weights are
   * rounded to float16 (11 significant bits; bfloat16 values beyond 65504 overflow). Without the
   * native kernels the graph widens each weight on every call: exact but slow.
   */
  FLOAT16,
  /**
   * Faithful to the checkpoint: never rounds its weights to a narrower type. FLOAT16 for weights
   * stored as float16 (llava-1.5's) where the native float16 matmul runs with F16C and FMA (x86-64
   * since about 2013), BFLOAT16 for weights stored as bfloat16 where the native bfloat16 matmul
   * runs (an AMX CPU), FLOAT32 otherwise: float16 weights widen exactly to float32, bfloat16 ones
   * too where only oneDNN's bfloat16 kernels would run them (slower than float32 for the few rows
   * of decoding). The server's default. Resolved when the model loads.
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
    return switch (stored) {
      case F16 -> kernels.nativeF16MatMul() && NativeKernels.cpuHasF16cFma() ? FLOAT16 : FLOAT32;
      case BF16 -> kernels.nativeBf16MatMul() ? BFLOAT16 : FLOAT32;
      case F32 -> FLOAT32;
    };
  }

  /** Bytes a Linear weight's element takes on the device. */
  public int weightBytes() {
    return switch (this) {
      case BFLOAT16, FLOAT16 -> 2;
      case FLOAT32 -> 4;
      case AUTO -> throw new IllegalStateException("resolve AUTO against the checkpoint first");
    };
  }
}
