package io.llavaserve.engine.graph;

import org.tensorflow.Operand;
import org.tensorflow.types.family.TType;

/**
 * A Linear layer's weight on the device: stored transposed ([in, out]) in float32 or bfloat16, or,
 * for the native bfloat16 kernel, packed as {@code [ceil(out / 64) * 4, ceil(in / 32) * 16, 16, 2]}
 * bfloat16 (see {@code bf16_matmul.c}).
 *
 * @param packedColumns the layer's output width when the weight is packed, else 0
 */
record Linear(Operand<? extends TType> weight, boolean bfloat16, int packedColumns) {

  Linear(Operand<? extends TType> weight, boolean bfloat16) {
    this(weight, bfloat16, 0);
  }
}
