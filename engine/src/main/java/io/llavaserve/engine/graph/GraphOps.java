package io.llavaserve.engine.graph;

import io.llavaserve.engine.quantization.Q4Block;
import io.llavaserve.engine.quantization.Q8Block;
import io.llavaserve.engine.quantization.Quantization;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Stack;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * The handful of tensor operations the LLaVA graph is written in, so that the model code reads like
 * the maths. Shapes are given in comments at the call sites.
 */
final class GraphOps extends TensorOps {

  private final int nativeThreads;
  private final boolean nativeFused;
  private final boolean nativeQuantizedMatMul;
  private final int int8ActivationRows;

  /**
   * @param nativeThreads threads a native kernel may use in one call
   * @param nativeFused whether RMSNorm and the SiLU-and-multiply run as native fused ops
   * @param nativeQuantizedMatMul whether int8 (Q8) and int4 (Q4) Linear weights run in their native
   *     kernels
   */
  GraphOps(Ops tf, int nativeThreads, boolean nativeFused, boolean nativeQuantizedMatMul) {
    this(tf, nativeThreads, nativeFused, nativeQuantizedMatMul, 0);
  }

  /**
   * @param int8ActivationRows the fewest rows of a native quantized matmul's input that are
   *     quantized to int8 for integer dot products ({@code q8_matmul.c}, {@code int8_dot.c}); 0 for
   *     float32 activations always
   */
  GraphOps(
      Ops tf,
      int nativeThreads,
      boolean nativeFused,
      boolean nativeQuantizedMatMul,
      int int8ActivationRows) {
    super(tf);
    this.nativeThreads = nativeThreads;
    this.nativeFused = nativeFused;
    this.nativeQuantizedMatMul = nativeQuantizedMatMul;
    this.int8ActivationRows = int8ActivationRows;
  }

  /**
   * {@code x @ w}: x [n, in], w [in, out] (a Linear weight stored transposed) -> [n, out]. A packed
   * weight goes to its native kernel; an unpacked float16 one (no native kernels) is widened on
   * every call, exact but slow; a quantized one without its native kernel is dequantized on every
   * call, the same product up to rounding but slow.
   */
  @SuppressWarnings("unchecked")
  Operand<TFloat32> linear(Operand<TFloat32> x, Linear w) {
    if (w.quantization() != Quantization.NONE) {
      return quantizedLinear(x, w);
    }
    if (w.packedColumns() > 0) {
      Operand<TFloat32> y =
          tf.scope()
              .opBuilder(
                  switch (w.precision()) {
                      // Column blocks [NB, in, 16] (float32 activations), or the AMX kernel's
                      // pairs [NB, in / 2, 16, 2].
                    case BFLOAT16 ->
                        w.weight().shape().numDimensions() == 3
                            ? NativeKernels.BF16_COLUMN_MATMUL
                            : NativeKernels.BF16_MATMUL;
                    case FLOAT16 -> NativeKernels.F16_MATMUL;
                    default -> NativeKernels.F32_MATMUL;
                  },
                  w.precision().name().toLowerCase(java.util.Locale.ROOT) + "_matmul")
              .addInput(x.asOutput())
              .addInput(w.weight().asOutput())
              .setAttr("n", (long) w.packedColumns())
              .setAttr("num_threads", (long) nativeThreads)
              .build()
              .output(0);
      return reshape(y, -1, w.packedColumns());
    }
    return switch (w.precision()) {
      case BFLOAT16 -> {
        Operand<TBfloat16> y =
            tf.linalg.matMul(tf.dtypes.cast(x, TBfloat16.class), (Operand<TBfloat16>) w.weight());
        yield tf.dtypes.cast(y, TFloat32.class);
      }
      case FLOAT16 ->
          tf.linalg.matMul(x, tf.dtypes.cast((Operand<TFloat16>) w.weight(), TFloat32.class));
      default -> tf.linalg.matMul(x, (Operand<TFloat32>) w.weight());
    };
  }

  /** {@code x @ w} for a weight quantized to int8 or int4 blocks. */
  @SuppressWarnings("unchecked")
  private Operand<TFloat32> quantizedLinear(Operand<TFloat32> x, Linear w) {
    Operand<TUint8> packed = (Operand<TUint8>) w.weight();
    boolean int8 = w.quantization() == Quantization.INT8;
    if (!nativeQuantizedMatMul) {
      return tf.linalg.matMul(
          x,
          int8
              ? dequantizedQ8(packed, w.inputs(), w.packedColumns())
              : dequantizedQ4(packed, w.inputs(), w.packedColumns()));
    }
    var op =
        tf.scope()
            .opBuilder(
                int8 ? NativeKernels.Q8_MATMUL : NativeKernels.Q4_MATMUL,
                int8 ? "q8_matmul" : "q4_matmul")
            .addInput(x.asOutput())
            .addInput(packed.asOutput())
            .setAttr("n", (long) w.packedColumns())
            .setAttr("num_threads", (long) nativeThreads);
    if (int8ActivationRows > 0) {
      op.setAttr("int8_rows", (long) int8ActivationRows);
    }
    Operand<TFloat32> y = op.build().output(0);
    return reshape(y, -1, w.packedColumns());
  }

  /**
   * The float32 [in, out] matrix that Q8 blocks packed as {@link Q8Packing} lays them out ([NB, KB,
   * 576] bytes) stand for: each int8 value times its block's scale.
   */
  Operand<TFloat32> dequantizedQ8(Operand<TUint8> packed, int in, int out) {
    long[] shape = Q8Packing.shape(in, out);
    long nb = shape[0];
    long kb = shape[1];
    int scaleBytes = Q8Packing.SCALE_BYTES;
    Operand<TFloat32> scales = // [NB, KB, 1, 16]: the little-endian float32 bytes reinterpreted
        tf.bitcast(
            tf.reshape(
                tf.slice(
                    packed,
                    tf.constant(new long[] {0, 0, 0}),
                    tf.constant(new long[] {-1, -1, scaleBytes})),
                tf.constant(new long[] {nb, kb, 1, Q8Packing.COLUMNS, 4})),
            TFloat32.class);
    Operand<TInt32> unsigned = // [NB, KB, 32, 16]
        tf.dtypes.cast(
            tf.reshape(
                tf.slice(
                    packed,
                    tf.constant(new long[] {0, 0, scaleBytes}),
                    tf.constant(new long[] {-1, -1, -1})),
                tf.constant(new long[] {nb, kb, Q8Block.SIZE, Q8Packing.COLUMNS})),
            TInt32.class);
    // Two's complement bytes held as uint8: (u ^ 128) - 128 is the int8 value.
    Operand<TInt32> values = tf.math.sub(tf.bitwise.bitwiseXor(unsigned, i32(128)), i32(128));
    Operand<TFloat32> w = tf.math.mul(tf.dtypes.cast(values, TFloat32.class), scales);
    Operand<TFloat32> columns = // [KB * 32, NB * 16]
        tf.reshape(
            tf.linalg.transpose(w, tf.constant(new int[] {1, 2, 0, 3})),
            tf.constant(new long[] {kb * Q8Block.SIZE, nb * Q8Packing.COLUMNS}));
    return tf.slice(columns, tf.constant(new long[] {0, 0}), tf.constant(new long[] {in, out}));
  }

  /**
   * The float32 [in, out] matrix that Q4 blocks packed as {@link Q4Packing} lays them out ([NB, KB,
   * 320] bytes) stand for: each 4-bit value times its block's step, plus its minimum.
   */
  Operand<TFloat32> dequantizedQ4(Operand<TUint8> packed, int in, int out) {
    long[] shape = Q4Packing.shape(in, out);
    long nb = shape[0];
    long kb = shape[1];
    Operand<TFloat32> steps = q4Halves(packed, nb, kb, 0); // [NB, KB, 1, 16]
    Operand<TFloat32> minimums = q4Halves(packed, nb, kb, Q4Packing.HALVES_BYTES);
    Operand<TInt32> pairs = // [NB, KB, 16, 16]: a byte per column holds two inputs' values
        tf.dtypes.cast(
            tf.reshape(
                tf.slice(
                    packed,
                    tf.constant(new long[] {0, 0, Q4Packing.HEAD_BYTES}),
                    tf.constant(new long[] {-1, -1, -1})),
                tf.constant(new long[] {nb, kb, Q4Block.SIZE / 2, Q4Packing.COLUMNS})),
            TInt32.class);
    Operand<TInt32> values = // [NB, KB, 32, 16]: the low four bits first, then the high
        tf.reshape(
            tf.stack(
                List.of(
                    tf.bitwise.bitwiseAnd(pairs, i32(15)), tf.bitwise.rightShift(pairs, i32(4))),
                Stack.axis(3L)),
            tf.constant(new long[] {nb, kb, Q4Block.SIZE, Q4Packing.COLUMNS}));
    Operand<TFloat32> w =
        tf.math.add(tf.math.mul(tf.dtypes.cast(values, TFloat32.class), steps), minimums);
    Operand<TFloat32> columns = // [KB * 32, NB * 16]
        tf.reshape(
            tf.linalg.transpose(w, tf.constant(new int[] {1, 2, 0, 3})),
            tf.constant(new long[] {kb * Q4Block.SIZE, nb * Q4Packing.COLUMNS}));
    return tf.slice(columns, tf.constant(new long[] {0, 0}), tf.constant(new long[] {in, out}));
  }

  /** The 16 float16 values at byte {@code at} of every Q4 block, widened: [NB, KB, 1, 16]. */
  private Operand<TFloat32> q4Halves(Operand<TUint8> packed, long nb, long kb, int at) {
    Operand<TFloat16> halves =
        tf.bitcast(
            tf.reshape(
                tf.slice(
                    packed,
                    tf.constant(new long[] {0, 0, at}),
                    tf.constant(new long[] {-1, -1, Q4Packing.HALVES_BYTES})),
                tf.constant(new long[] {nb, kb, 1, Q4Packing.COLUMNS, 2})),
            TFloat16.class);
    return tf.dtypes.cast(halves, TFloat32.class);
  }

  /** {@code x @ w^T}: x [n, in], w [out, in] (PyTorch's layout, e.g. a tied embedding). */
  Operand<TFloat32> linearTransposed(Operand<TFloat32> x, Operand<TFloat32> w) {
    return tf.linalg.matMul(x, w, MatMul.transposeB(true));
  }

  /** {@code x @ w + b}. */
  Operand<TFloat32> linear(Operand<TFloat32> x, Linear w, Operand<TFloat32> b) {
    return tf.math.add(linear(x, w), b);
  }

  /** LLaMA's RMSNorm over the last axis: {@code w * x / sqrt(mean(x^2) + eps)}. */
  Operand<TFloat32> rmsNorm(Operand<TFloat32> x, Operand<TFloat32> w, double eps) {
    if (nativeFused) {
      Operand<TFloat32> y =
          tf.scope()
              .opBuilder(NativeKernels.RMS_NORM, "rms_norm")
              .addInput(x.asOutput())
              .addInput(w.asOutput())
              .setAttr("eps", (float) eps)
              .setAttr("num_threads", (long) nativeThreads)
              .build()
              .output(0);
      return tf.reshape(y, tf.shape(x));
    }
    Operand<TFloat32> ms = tf.math.mean(tf.math.square(x), i32(-1), Mean.keepDims(true));
    return mul(mul(x, tf.math.rsqrt(add(ms, f32((float) eps)))), w);
  }

  /** The residual stream after an add, and its RMSNorm. */
  record AddNorm(Operand<TFloat32> sum, Operand<TFloat32> normed) {}

  /**
   * {@code s = x + d} and {@link #rmsNorm} of s, for x and d of the same [T, H] shape: one native
   * op where the fused ops run (the same bits as the two apart), else a stock Add and the norm.
   */
  AddNorm addRmsNorm(Operand<TFloat32> x, Operand<TFloat32> d, Operand<TFloat32> w, double eps) {
    if (nativeFused) {
      Operation op =
          tf.scope()
              .opBuilder(NativeKernels.ADD_RMS_NORM, "add_rms_norm")
              .addInput(x.asOutput())
              .addInput(d.asOutput())
              .addInput(w.asOutput())
              .setAttr("eps", (float) eps)
              .setAttr("num_threads", (long) nativeThreads)
              .build();
      Operand<TInt32> shape = tf.shape(x); // the outputs' static shape, as rmsNorm keeps it
      return new AddNorm(
          tf.reshape(op.<TFloat32>output(0), shape), tf.reshape(op.<TFloat32>output(1), shape));
    }
    Operand<TFloat32> s = add(x, d);
    return new AddNorm(s, rmsNorm(s, w, eps));
  }

  /** LayerNorm over the last axis with biased variance, as PyTorch computes it. */
  Operand<TFloat32> layerNorm(
      Operand<TFloat32> x, Operand<TFloat32> w, Operand<TFloat32> b, double eps) {
    Operand<TFloat32> mean = tf.math.mean(x, i32(-1), Mean.keepDims(true));
    Operand<TFloat32> centred = sub(x, mean);
    Operand<TFloat32> var = tf.math.mean(tf.math.square(centred), i32(-1), Mean.keepDims(true));
    return add(mul(mul(centred, tf.math.rsqrt(add(var, f32((float) eps)))), w), b);
  }

  /**
   * {@code act(gate) * up} for gateUp = [gate | up], [n, 2 * inter] -> [n, inter]: LLaMA's MLP
   * between its two projections.
   */
  Operand<TFloat32> gatedActivation(String act, Operand<TFloat32> gateUp, int inter) {
    if (nativeFused && (act.equals("silu") || act.equals("swish"))) {
      Operand<TFloat32> y =
          tf.scope()
              .opBuilder(NativeKernels.SILU_MUL, "silu_mul")
              .addInput(gateUp.asOutput())
              .setAttr("num_threads", (long) nativeThreads)
              .build()
              .output(0);
      return reshape(y, -1, inter);
    }
    List<Operand<TFloat32>> gu = splitLast(gateUp, 2, inter, inter);
    return mul(activation(act, gu.get(0)), gu.get(1));
  }

  Operand<TInt32> mulDims(Operand<TInt32> a, Operand<TInt32> b) {
    return tf.math.mul(a, b);
  }

  /** Splits the last axis into pieces of the given sizes. */
  List<Operand<TFloat32>> splitLast(Operand<TFloat32> x, int rank, int... sizes) {
    return new ArrayList<>(
        tf.splitV(x, tf.constant(sizes), i32(rank - 1), (long) sizes.length).output());
  }

  /** 0 where {@code allowed}, -1e30 elsewhere: an additive attention mask with no NaN risk. */
  Operand<TFloat32> maskBias(Operand<org.tensorflow.types.TBool> allowed) {
    Operand<TFloat32> one = tf.dtypes.cast(allowed, TFloat32.class);
    return scale(sub(one, f32(1f)), 1e30f);
  }
}
