package io.llavaserve.engine.graph;

import org.tensorflow.Operand;
import org.tensorflow.types.family.TType;

/**
 * A Linear layer's weight on the device, stored transposed ([in, out]) in float32 or, when the
 * model runs its matmuls in bfloat16, in bfloat16.
 */
record Linear(Operand<? extends TType> weight, boolean bfloat16) {}
