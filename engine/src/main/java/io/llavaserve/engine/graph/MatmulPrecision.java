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
   * Half the weight bytes. With the native kernels on an AMX CPU, AMX tiles over activations
   * rounded to bfloat16 too: the fastest setting at every batch size there. On other CPUs the
   * native column-block kernel widens each weight by a shift in registers and multiplies it with
   * the float32 activations: on a bfloat16 checkpoint as exact as FLOAT32 (the same arithmetic up
   * to the order of summation), at half its bytes. Other checkpoints' weights are rounded to
   * bfloat16 (8 significant bits): logits within about 1e-2 of float32, so greedy outputs may
   * differ from a float32 run. Without the native kernels, oneDNN's bfloat16 kernels (faster for
   * many rows, slower for one).
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
   * since about 2013), BFLOAT16 for weights stored as bfloat16 (llava-onevision's, Qwen2's) where a
   * native bfloat16 matmul runs (AMX tiles, or elsewhere the column-block kernel with AVX2 and
   * FMA), FLOAT32 otherwise: float16 and bfloat16 weights widen exactly to float32 (bfloat16 ones
   * where only oneDNN's bfloat16 kernels would run them, slower than float32 for the few rows of
   * decoding). The server's default. Resolved when the model loads.
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
      case BF16 ->
          kernels.nativeBf16MatMul()
                  || (kernels.nativeBf16ColumnMatMul() && NativeKernels.cpuHasF16cFma())
              ? BFLOAT16
              : FLOAT32;
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
