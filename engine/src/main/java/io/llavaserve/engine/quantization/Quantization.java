package io.llavaserve.engine.quantization;

/**
 * How the language model's Linear weights (the attention's q/k/v and o projections, the MLP's
 * gate/up and down projections, and an LM head stored apart from the embedding) are held once
 * loaded. The vision tower, the projector, the embedding (and a head tied to it) and the norms are
 * never quantized; they follow {@code model.matmul-precision}.
 */
public enum Quantization {
  /** The weights as {@code model.matmul-precision} gives them. The default. */
  NONE,
  /**
   * Weight-only int8 as llama.cpp's Q8_0 ({@link Q8Block}): blocks of 32 along the input, one
   * float32 scale per block, quantized from the checkpoint's weights (float32, float16 or bfloat16)
   * at load. 1.125 bytes a weight; the activations stay float32, so a product is float32 arithmetic
   * on the dequantized weights. Refuses a checkpoint whose quantized weights hold NaN or infinity.
   */
  INT8,
  /**
   * Weight-only int4 as llama.cpp's Q4_1 ({@link Q4Block}): blocks of 32 along the input, 4-bit
   * values with a float16 step and minimum per block, two values a byte, quantized at load like
   * INT8. 0.625 bytes a weight; float32 activations and sums. Refuses a checkpoint whose quantized
   * weights hold NaN, infinity or magnitudes beyond float16's 65504.
   */
  INT4;

  /** Bytes one weight takes on the device, scales included; 0 for NONE (the precision decides). */
  public double weightBytes() {
    return switch (this) {
      case NONE -> 0;
      case INT8 -> (double) Q8Block.BYTES / Q8Block.SIZE;
      case INT4 -> (double) Q4Block.BYTES / Q4Block.SIZE;
    };
  }
}
