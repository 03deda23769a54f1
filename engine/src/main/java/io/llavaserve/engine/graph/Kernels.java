package io.llavaserve.engine.graph;

/**
 * Which implementation runs the hot spots of a decoder step: decode attention over the paged KV
 * cache, the per-layer elementwise work (rotary embeddings, RMSNorm, SiLU-and-multiply), and (with
 * bfloat16, float16, int8 or int4 weights) the Linear layers.
 */
public enum Kernels {
  /**
   * The native kernels where they help on this machine, stock TensorFlow ops otherwise: native
   * attention, float32, float16, int8 and int4 matmuls wherever the library loads, and bfloat16
   * matmuls on AMX tiles where the CPU has AMX, else on the column-block kernel (float32
   * activations).
   */
  AUTO,
  /**
   * The project's native ops ({@code libllava_ops.so}): attention reads each sequence's blocks in
   * place from the pool variables, so the keys and values cross memory once per layer; bfloat16
   * Linear weights are packed once at load for the CPU's bfloat16 dot product instead of being
   * reordered by oneDNN on every call, float32 ones are packed once in column blocks that stream
   * well, float16 ones are packed the same way and widened in registers, int8 and int4 ones are
   * read as packed and dequantized in registers. Loading fails where the library is not available.
   */
  NATIVE,
  /**
   * Stock TensorFlow ops only: attention gathers each sequence's blocks into a new tensor, then
   * multiplies. Works everywhere; moves the KV bytes about three times per layer.
   */
  GRAPH;

  /**
   * Whether decode attention and the fused elementwise ops run natively: AUTO becomes a yes or a no
   * on this machine.
   */
  boolean nativeAttention() {
    return wherever();
  }

  /** Whether bfloat16 Linear layers run natively. */
  boolean nativeBf16MatMul() {
    return switch (this) {
      case AUTO -> NativeKernels.available() && NativeKernels.cpuHasAmxBf16();
      case NATIVE -> requireLibrary();
      case GRAPH -> false;
    };
  }

  /**
   * Whether bfloat16 Linear layers run on the column-block kernel ({@code bf16_column_matmul.c}:
   * the weights in column blocks widened by a shift in registers, float32 activations) where {@link
   * #nativeBf16MatMul} does not take them: with AUTO, wherever the library loads on a CPU without
   * AMX (AVX2 and FMA, AVX-512F, or its plain C path). NATIVE forces the AMX kernel's own paths.
   */
  boolean nativeBf16ColumnMatMul() {
    return this == AUTO && NativeKernels.available() && !NativeKernels.cpuHasAmxBf16();
  }

  /**
   * Whether float16 Linear layers run natively (on any CPU: where it lacks F16C and FMA, in the
   * kernel's plain C path; without the kernel they are widened on every call).
   */
  boolean nativeF16MatMul() {
    return wherever();
  }

  /**
   * Whether float32 Linear layers run natively, their weights packed in column blocks (on any CPU:
   * where it lacks AVX2 and FMA, in the kernel's plain C path; without the kernel they run on
   * TensorFlow's MatMul).
   */
  boolean nativeF32MatMul() {
    return wherever();
  }

  /**
   * Whether quantized Linear layers (int8 Q8 and int4 Q4 blocks) run natively (on any CPU: where it
   * lacks AVX2 and FMA, in the kernels' plain C paths; without the kernels stock ops dequantize
   * them on every call).
   */
  boolean nativeQuantizedMatMul() {
    return wherever();
  }

  /** Yes wherever the library loads (AUTO), always (NATIVE: failing without it), never (GRAPH). */
  private boolean wherever() {
    return switch (this) {
      case AUTO -> NativeKernels.available();
      case NATIVE -> requireLibrary();
      case GRAPH -> false;
    };
  }

  private static boolean requireLibrary() {
    if (!NativeKernels.available()) {
      throw new IllegalStateException(
          "the native kernels are not available: " + NativeKernels.unavailableReason());
    }
    return true;
  }
}
