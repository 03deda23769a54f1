package io.llavaserve.engine.graph;

import io.llavaserve.engine.quantization.Quantization;
import org.tensorflow.Operand;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * A Linear layer's weight on the device: stored transposed ([in, out]) in float32, bfloat16 or
 * float16, or packed for a native kernel: bfloat16 for AMX tiles as {@code [ceil(out / 64) * 4,
 * ceil(in / 32) * 16, 16, 2]} (see {@code bf16_matmul.c}), float16, float32 or (without AMX)
 * bfloat16 as {@code [ceil(out / 64) * 4, in, 16]} (see {@code column_block_matmul.h}); or
 * quantized to int8 as Q8 blocks, {@code [ceil(out / 64) * 4, ceil(in / 32), 576]} bytes (see
 * {@link Q8Packing} and {@code q8_matmul.c}), or to int4 as Q4 blocks, {@code [ceil(out / 64) * 4,
 * ceil(in / 32), 320]} bytes (see {@link Q4Packing} and {@code q4_matmul.c}), which the native
 * kernels read and stock ops dequantize where they do not run.
 *
 * @param precision the weight's element type: FLOAT32, BFLOAT16 or FLOAT16; FLOAT32 for a quantized
 *     weight, whose products and sums are float32
 * @param packedColumns the layer's output width when the weight is packed or quantized, else 0
 * @param quantization NONE, INT8 for Q8 blocks or INT4 for Q4 blocks
 * @param inputs the layer's input width when quantized (its blocks pad it to a multiple of 32),
 *     else 0
 */
record Linear(
    Operand<? extends TType> weight,
    MatmulPrecision precision,
    int packedColumns,
    Quantization quantization,
    int inputs) {

  Linear {
    if (precision == MatmulPrecision.AUTO) {
      throw new IllegalArgumentException("a Linear weight has a concrete precision, not AUTO");
    }
    boolean quantized = quantization != Quantization.NONE;
    if (packedColumns < 0) {
      throw new IllegalArgumentException("packedColumns " + packedColumns);
    }
    if (quantized != (inputs > 0) || (quantized && packedColumns <= 0)) {
      throw new IllegalArgumentException(
          quantization + " weight of " + inputs + " inputs, " + packedColumns + " outputs");
    }
  }

  Linear(Operand<? extends TType> weight, MatmulPrecision precision, int packedColumns) {
    this(weight, precision, packedColumns, Quantization.NONE, 0);
  }

  Linear(Operand<? extends TType> weight, MatmulPrecision precision) {
    this(weight, precision, 0);
  }

  /** An [in, out] weight quantized to Q8 blocks, packed as {@link Q8Packing} lays them out. */
  static Linear q8(Operand<TUint8> packed, int in, int out) {
    return new Linear(packed, MatmulPrecision.FLOAT32, out, Quantization.INT8, in);
  }

  /** An [in, out] weight quantized to Q4 blocks, packed as {@link Q4Packing} lays them out. */
  static Linear q4(Operand<TUint8> packed, int in, int out) {
    return new Linear(packed, MatmulPrecision.FLOAT32, out, Quantization.INT4, in);
  }
}
