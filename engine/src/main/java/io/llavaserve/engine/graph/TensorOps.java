package io.llavaserve.engine.graph;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TType;

/**
 * The plain tensor operations that the serving graph ({@code GraphOps}) and the training graphs
 * ({@code TrainOps}) are both written in, so that model code reads like the maths. Each has a
 * gradient in TensorFlow's C++ registry, so training may use any of them.
 */
public class TensorOps {

  public final Ops tf;

  protected TensorOps(Ops tf) {
    this.tf = tf;
  }

  public final Operand<TInt32> i32(int v) {
    return tf.constant(v);
  }

  public final Operand<TFloat32> f32(float v) {
    return tf.constant(v);
  }

  public final Operand<TFloat32> add(Operand<TFloat32> a, Operand<TFloat32> b) {
    return tf.math.add(a, b);
  }

  public final Operand<TFloat32> sub(Operand<TFloat32> a, Operand<TFloat32> b) {
    return tf.math.sub(a, b);
  }

  public final Operand<TFloat32> mul(Operand<TFloat32> a, Operand<TFloat32> b) {
    return tf.math.mul(a, b);
  }

  public final Operand<TFloat32> scale(Operand<TFloat32> a, float s) {
    return tf.math.mul(a, f32(s));
  }

  /** Batched matmul over leading dims; {@code adjY} transposes the last two dims of y. */
  public final Operand<TFloat32> bmm(Operand<TFloat32> x, Operand<TFloat32> y, boolean adjY) {
    return tf.train.batchMatMul(x, y, TFloat32.class, BatchMatMul.adjY(adjY));
  }

  public final Operand<TFloat32> softmax(Operand<TFloat32> x) {
    return tf.nn.softmax(x);
  }

  /** Dimension {@code axis} of {@code x}'s runtime shape, as a scalar. */
  public final Operand<TInt32> dim(Operand<?> x, int axis) {
    return tf.gather(tf.shape(x), i32(axis), i32(0));
  }

  /**
   * Reshape to dims given as ints (static) or scalar operands (runtime). Never uses -1, so empty
   * tensors reshape too.
   */
  @SuppressWarnings("unchecked")
  public final <T extends TType> Operand<T> reshape(Operand<T> x, Object... dims) {
    List<Operand<TInt32>> parts = new ArrayList<>(dims.length);
    for (Object d : dims) {
      parts.add(d instanceof Integer i ? i32(i) : (Operand<TInt32>) d);
    }
    return tf.reshape(x, tf.stack(parts));
  }

  public final <T extends TType> Operand<T> transpose(Operand<T> x, int... perm) {
    return tf.linalg.transpose(x, tf.constant(perm));
  }

  /** Rows of {@code x} at {@code indices} along axis 0. */
  public final <T extends TType> Operand<T> gatherRows(Operand<T> x, Operand<TInt32> indices) {
    return tf.gather(x, indices, i32(0));
  }

  public final Operand<TFloat32> concat(int axis, List<Operand<TFloat32>> parts) {
    return tf.concat(parts, i32(axis));
  }

  /** The activations named by Hugging Face configs ({@code hidden_act}). */
  public final Operand<TFloat32> activation(String name, Operand<TFloat32> x) {
    switch (name) {
      case "silu":
      case "swish":
        return mul(x, tf.math.sigmoid(x));
      case "quick_gelu":
        return mul(x, tf.math.sigmoid(scale(x, 1.702f)));
      case "gelu":
        // exact GELU: 0.5 x (1 + erf(x / sqrt 2))
        return mul(scale(x, 0.5f), add(f32(1f), tf.math.erf(scale(x, (float) (1 / Math.sqrt(2))))));
      case "gelu_new":
      case "gelu_pytorch_tanh":
      case "gelu_fast":
        {
          Operand<TFloat32> cube = mul(mul(x, x), x);
          Operand<TFloat32> inner =
              scale(add(x, scale(cube, 0.044715f)), (float) Math.sqrt(2 / Math.PI));
          return mul(scale(x, 0.5f), add(f32(1f), tf.math.tanh(inner)));
        }
      case "relu":
        return tf.nn.relu(x);
      default:
        throw new IllegalArgumentException("unsupported activation: " + name);
    }
  }
}
