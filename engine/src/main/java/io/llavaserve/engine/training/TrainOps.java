package io.llavaserve.engine.training;

import io.llavaserve.engine.graph.TensorOps;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The differentiable operations the training graphs are written in.
 *
 * <p>Every op used here has a gradient in TensorFlow's C++ registry, which is the one TensorFlow
 * Java's {@code tf.gradients} reads. Some common ops do not, or crash while building theirs, in
 * TensorFlow Java 1.1.0: {@code Square} (so squares are written {@code x * x}), {@code Sqrt},
 * {@code SparseSoftmaxCrossEntropyWithLogits} (so the loss takes one-hot labels) and {@code
 * TensorScatterUpdate} (so image features are blended in by a mask, not scattered). The maths match
 * the serving graph's op for op, so trained weights give the same logits there.
 */
final class TrainOps extends TensorOps {

  TrainOps(Ops tf) {
    super(tf);
  }

  /** {@code x @ w^T + b}: x [n, in], w [out, in] (PyTorch's Linear layout), b [out] or null. */
  Operand<TFloat32> linear(Operand<TFloat32> x, Operand<TFloat32> w, Operand<TFloat32> b) {
    Operand<TFloat32> y = tf.linalg.matMul(x, w, MatMul.transposeB(true));
    return b == null ? y : tf.math.add(y, b);
  }

  Operand<TFloat32> meanLast(Operand<TFloat32> x) {
    return tf.math.mean(x, i32(-1), Mean.keepDims(true));
  }

  /** LLaMA's RMSNorm over the last axis: {@code w * x / sqrt(mean(x^2) + eps)}. */
  Operand<TFloat32> rmsNorm(Operand<TFloat32> x, Operand<TFloat32> w, double eps) {
    Operand<TFloat32> ms = meanLast(mul(x, x));
    return mul(mul(x, tf.math.rsqrt(add(ms, f32((float) eps)))), w);
  }

  /** LayerNorm over the last axis with biased variance, as PyTorch computes it. */
  Operand<TFloat32> layerNorm(
      Operand<TFloat32> x, Operand<TFloat32> w, Operand<TFloat32> b, double eps) {
    Operand<TFloat32> centred = tf.math.sub(x, meanLast(x));
    Operand<TFloat32> var = meanLast(mul(centred, centred));
    return add(mul(mul(centred, tf.math.rsqrt(add(var, f32((float) eps)))), w), b);
  }

  /** Unit L2 norm over the last axis. */
  Operand<TFloat32> l2Normalize(Operand<TFloat32> x) {
    Operand<TFloat32> ss =
        tf.reduceSum(mul(x, x), i32(-1), org.tensorflow.op.core.ReduceSum.keepDims(true));
    return mul(x, tf.math.rsqrt(add(ss, f32(1e-12f))));
  }

  /**
   * Multi-head attention of [B, H, T, hd] queries (already scaled) on keys and values of the same
   * shape, with an additive bias broadcast to [B, H, T, T]: [B, T, H * hd] out.
   */
  Operand<TFloat32> attention(
      Operand<TFloat32> q, Operand<TFloat32> k, Operand<TFloat32> v, Operand<TFloat32> bias) {
    Operand<TFloat32> scores = bmm(q, k, true); // [B, H, T, T]
    if (bias != null) {
      scores = add(scores, bias);
    }
    Operand<TFloat32> out = bmm(tf.nn.softmax(scores), v, false); // [B, H, T, hd]
    return transpose(out, 0, 2, 1, 3);
  }

  /** [rows, heads * hd] -> [B, heads, T, hd] for rows = B * T. */
  Operand<TFloat32> splitHeads(
      Operand<TFloat32> x, Operand<TInt32> batch, Operand<TInt32> tokens, int heads, int hd) {
    return transpose(reshape(x, batch, tokens, heads, hd), 0, 2, 1, 3);
  }

  /** Sum of squares of every tensor in {@code xs}, as a scalar. */
  Operand<TFloat32> sumOfSquares(List<Operand<TFloat32>> xs) {
    Operand<TFloat32> total = f32(0f);
    for (Operand<TFloat32> x : xs) {
      total = add(total, tf.reduceSum(mul(x, x), tf.range(i32(0), tf.rank(x), i32(1))));
    }
    return total;
  }
}
