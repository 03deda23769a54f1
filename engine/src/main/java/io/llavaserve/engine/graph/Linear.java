package io.llavaserve.engine.graph;

import org.tensorflow.Operand;
import org.tensorflow.types.family.TType;

/**
 * A Linear layer's weight on the device: stored transposed ([in, out]) in float32, bfloat16 or
 * float16, or packed for a native kernel: bfloat16 as {@code [ceil(out / 64) * 4, ceil(in / 32) *
 * 16, 16, 2]} (see {@code bf16_matmul.c}), float16 as {@code [ceil(out / 64) * 4, in, 16]} (see
 * {@code f16_matmul.c}).
 *
 * @param precision the weight's element type: FLOAT32, BFLOAT16 or FLOAT16
 * @param packedColumns the layer's output width when the weight is packed, else 0
 */
record Linear(Operand<? extends TType> weight, MatmulPrecision precision, int packedColumns) {

  Linear {
    if (precision == MatmulPrecision.AUTO) {
      throw new IllegalArgumentException("a Linear weight has a concrete precision, not AUTO");
    }
    if (packedColumns < 0 || (packedColumns > 0 && precision == MatmulPrecision.FLOAT32)) {
      throw new IllegalArgumentException(
          "packedColumns " + packedColumns + " for a " + precision + " weight");
    }
  }

  Linear(Operand<? extends TType> weight, MatmulPrecision precision) {
    this(weight, precision, 0);
  }
}
