package io.llavaserve.engine.training;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * AdamW (decoupled weight decay) with global-norm gradient clipping, as update ops inside the
 * graph, so one session call computes the loss, the gradients and every update.
 *
 * <p>Every update reads the clipping factor, which reads every gradient, so no variable is written
 * before all the backward ops that read it have run. The moments are variables of their own ({@code
 * adam_m/NAME}, {@code adam_v/NAME}) kept in {@link #moments()} so a checkpoint can resume them.
 * The learning rate and the bias corrections {@code 1 / (1 - beta^t)} are fed each step.
 */
final class AdamW {

  static final float BETA1 = 0.9f;
  static final float BETA2 = 0.95f;
  static final float EPSILON = 1e-8f;

  final Placeholder<TFloat32> learningRate;
  final Placeholder<TFloat32> correction1;
  final Placeholder<TFloat32> correction2;

  /** The update ops, to run as targets with the loss. */
  final List<Op> updates = new ArrayList<>();

  /** Global gradient norm before clipping. */
  final Operand<TFloat32> gradNorm;

  private final Parameters moments;

  /**
   * @param weightDecay decay applied to matrices (rank >= 2, embeddings excluded)
   * @param maxGradNorm clipping threshold of the global norm
   * @param rateScale each trainable parameter's learning rate as a fraction of the fed one
   */
  AdamW(
      TrainOps g,
      Parameters params,
      Operand<TFloat32> loss,
      double weightDecay,
      double maxGradNorm,
      java.util.function.ToDoubleFunction<String> rateScale) {
    List<String> names = params.trainable();
    Map<String, long[]> slotShapes = new LinkedHashMap<>();
    for (String n : names) {
      slotShapes.put("adam_m/" + n, params.shape(n));
      slotShapes.put("adam_v/" + n, params.shape(n));
    }
    moments = new Parameters(g.tf, slotShapes, java.util.Set.of());
    learningRate = scalar(g, "learning_rate");
    correction1 = scalar(g, "bias_correction1");
    correction2 = scalar(g, "bias_correction2");

    List<Operand<TFloat32>> vars = new ArrayList<>();
    names.forEach(n -> vars.add(params.variable(n)));
    Gradients grads = g.tf.gradients(loss, vars);
    List<Operand<TFloat32>> gs = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      @SuppressWarnings("unchecked")
      Operand<TFloat32> gi = (Operand<TFloat32>) (Operand<?>) grads.dy(i);
      gs.add(gi);
    }
    gradNorm = g.tf.math.sqrt(g.sumOfSquares(gs));
    Operand<TFloat32> clip =
        g.tf.math.minimum(
            g.f32(1f), g.tf.math.div(g.f32((float) maxGradNorm), g.add(gradNorm, g.f32(1e-6f))));
    for (int i = 0; i < names.size(); i++) {
      String n = names.get(i);
      Operand<TFloat32> grad = g.mul(gs.get(i), clip);
      Operand<TFloat32> w = params.variable(n);
      Operand<TFloat32> m = moments.variable("adam_m/" + n);
      Operand<TFloat32> v = moments.variable("adam_v/" + n);
      Operand<TFloat32> m1 = g.add(g.scale(m, BETA1), g.scale(grad, 1 - BETA1));
      Operand<TFloat32> v1 = g.add(g.scale(v, BETA2), g.scale(g.mul(grad, grad), 1 - BETA2));
      Operand<TFloat32> step =
          g.tf.math.div(
              g.mul(m1, correction1),
              g.add(g.tf.math.sqrt(g.mul(v1, correction2)), g.f32(EPSILON)));
      boolean decays = params.shape(n).length >= 2 && !n.contains("embed");
      if (decays && weightDecay > 0) {
        step = g.add(step, g.scale(w, (float) weightDecay));
      }
      updates.add(g.tf.assign(moments.variable("adam_m/" + n), m1));
      updates.add(g.tf.assign(moments.variable("adam_v/" + n), v1));
      double scale = rateScale.applyAsDouble(n);
      Operand<TFloat32> rate = scale == 1 ? learningRate : g.scale(learningRate, (float) scale);
      updates.add(g.tf.assignSub(params.variable(n), g.mul(step, rate)));
    }
  }

  /** The first and second moments of every trainable parameter. */
  Parameters moments() {
    return moments;
  }

  private static Placeholder<TFloat32> scalar(TrainOps g, String name) {
    return g.tf.withName(name).placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
  }
}
