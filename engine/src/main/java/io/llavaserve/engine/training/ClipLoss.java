package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.config.VisionConfig;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * CLIP's contrastive objective, for training the vision tower from nothing: N images and their N
 * captions, each image's embedding pulled towards its own caption's and pushed from the others', in
 * both directions (a symmetric cross-entropy over the N x N similarity matrix with a learned
 * temperature).
 *
 * <p>The image side is the LLaVA tower itself (all its layers, post-LayerNorm on the class token, a
 * projection); the text side is a small CLIP text encoder over world-vocabulary rows (learned
 * positions, the same pre-LayerNorm layers, mean-pooled over the caption's tokens) that is thrown
 * away after this stage.
 */
final class ClipLoss {

  static final String TEXT = "clip.text_model.";
  static final String VISUAL_PROJECTION = "clip.visual_projection.weight";
  static final String TEXT_PROJECTION = "clip.text_projection.weight";
  static final String LOGIT_SCALE = "clip.logit_scale";
  static final String LOGIT_BIAS = "clip.logit_bias";

  final Placeholder<TFloat32> pixels; // [N, 3, S, S]
  final Placeholder<TInt32> captionRows; // [M, L] world rows, padded; M = N * (1 + negatives)
  final Placeholder<TFloat32> captionMask; // [M, L] 1 on caption tokens

  /** With {@link ClipTextSpec.Objective#FACTS}: [N, M] 1 where fact m holds of image n, else 0. */
  final Placeholder<TFloat32> targets;

  /** With {@link ClipTextSpec.Objective#FACTS}: [N, M] 0 for the undecided pairs, else 1. */
  final Placeholder<TFloat32> weights;

  /** Mean of the two directions' cross-entropy, a scalar. */
  final Operand<TFloat32> loss;

  /** Image-to-caption accuracy in the batch, hard negatives included, for progress reports. */
  final Operand<TFloat32> accuracy;

  ClipLoss(TrainOps g, Parameters p, VisionConfig v, ClipTextSpec text) {
    int side = v.imageSize();
    pixels =
        g.tf
            .withName("pixel_values")
            .placeholder(
                TFloat32.class, Placeholder.shape(Shape.of(-1, v.numChannels(), side, side)));
    captionRows =
        g.tf
            .withName("caption_rows")
            .placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, text.maxTokens())));
    captionMask =
        g.tf
            .withName("caption_mask")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, text.maxTokens())));
    Operand<TInt32> n = g.dim(pixels, 0);
    Operand<TInt32> m = g.dim(captionRows, 0);

    // Image side: class token of the last layer, post-LayerNorm, projection: [N, proj]
    Operand<TFloat32> states = Towers.vision(g, p, v, pixels, v.numHiddenLayers());
    Operand<TFloat32> clsState =
        g.reshape(
            g.tf.slice(
                states, g.tf.constant(new int[] {0, 0, 0}), g.tf.constant(new int[] {-1, 1, -1})),
            -1,
            v.hiddenSize());
    Operand<TFloat32> image =
        g.l2Normalize(
            g.linear(
                g.layerNorm(
                    clsState,
                    p.get(WeightShapes.VISION + "post_layernorm.weight"),
                    p.get(WeightShapes.VISION + "post_layernorm.bias"),
                    v.layerNormEps()),
                p.get(VISUAL_PROJECTION),
                null));

    // Text side: [N, L, width] -> layers with a key mask -> masked mean -> projection: [N, proj]
    int width = text.hidden();
    int len = text.maxTokens();
    Operand<TFloat32> x =
        g.add(
            g.gatherRows(p.get(TEXT + "embeddings.token_embedding.weight"), captionRows),
            p.get(TEXT + "embeddings.position_embedding.weight"));
    x = g.reshape(x, -1, width);
    Operand<TFloat32> keyBias =
        g.reshape(g.scale(g.tf.math.sub(captionMask, g.f32(1f)), 1e30f), m, 1, 1, len);
    for (int i = 0; i < text.layers(); i++) {
      x =
          Towers.encoderLayer(
              g,
              p,
              TEXT + "encoder.layers." + i + ".",
              x,
              m,
              len,
              text.heads(),
              width / text.heads(),
              1e-5,
              "quick_gelu",
              keyBias);
    }
    x =
        g.layerNorm(
            x,
            p.get(TEXT + "final_layer_norm.weight"),
            p.get(TEXT + "final_layer_norm.bias"),
            1e-5);
    Operand<TFloat32> mask3 = g.reshape(captionMask, m, len, 1);
    Operand<TFloat32> pooled =
        g.tf.math.div(
            g.tf.reduceSum(g.mul(g.reshape(x, m, len, width), mask3), g.i32(1)),
            g.tf.reduceSum(mask3, g.i32(1)));
    Operand<TFloat32> caption = g.l2Normalize(g.linear(pooled, p.get(TEXT_PROJECTION), null));

    Operand<TFloat32> similarity =
        g.tf.linalg.matMul(image, caption, org.tensorflow.op.linalg.MatMul.transposeB(true));
    if (text.objective() == ClipTextSpec.Objective.FACTS) {
      targets =
          g.tf
              .withName("fact_targets")
              .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1)));
      weights =
          g.tf
              .withName("fact_weights")
              .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1)));
      Operand<TInt32> both = g.tf.constant(new int[] {0, 1});
      // SigLIP: each (image, fact) pair is its own yes/no, logit t * cos + b, loss softplus(z) - z
      // x
      Operand<TFloat32> z =
          g.add(g.mul(g.tf.math.exp(p.get(LOGIT_SCALE)), similarity), p.get(LOGIT_BIAS));
      Operand<TFloat32> pairLoss = g.tf.math.sub(g.tf.math.softplus(z), g.mul(targets, z));
      loss =
          g.tf.math.div(
              g.tf.reduceSum(g.mul(weights, pairLoss), both), g.tf.reduceSum(weights, both));
      // Balanced accuracy: the mean of the true facts' and the false facts' hit rates.
      Operand<TFloat32> yes = g.tf.dtypes.cast(g.tf.math.greater(z, g.f32(0f)), TFloat32.class);
      Operand<TFloat32> pos = g.mul(weights, targets);
      Operand<TFloat32> neg = g.tf.math.sub(weights, pos);
      Operand<TFloat32> hitPos =
          g.tf.math.div(g.tf.reduceSum(g.mul(pos, yes), both), g.tf.reduceSum(pos, both));
      Operand<TFloat32> hitNeg =
          g.tf.math.div(
              g.tf.reduceSum(g.mul(neg, g.tf.math.sub(g.f32(1f), yes)), both),
              g.tf.reduceSum(neg, both));
      accuracy = g.scale(g.add(hitPos, hitNeg), 0.5f);
      return;
    }
    targets = null;
    weights = null;

    // [N, M] similarities at the learned temperature; image i's own caption is column i, its
    // hard negatives further right. Captions score against the N images only by their own
    // [N, N] block: a false caption has no image to be matched to.
    Operand<TFloat32> logits = g.mul(g.tf.math.exp(p.get(LOGIT_SCALE)), similarity);
    Operand<TInt32> diag = g.tf.range(g.i32(0), n, g.i32(1));
    Operand<TFloat32> i2t =
        g.tf
            .nn
            .softmaxCrossEntropyWithLogits(logits, g.tf.oneHot(diag, m, g.f32(1f), g.f32(0f)))
            .loss();
    Operand<TFloat32> own =
        g.tf.slice(logits, g.tf.constant(new int[] {0, 0}), g.tf.stack(java.util.List.of(n, n)));
    Operand<TFloat32> t2i =
        g.tf
            .nn
            .softmaxCrossEntropyWithLogits(
                g.transpose(own, 1, 0), g.tf.oneHot(diag, n, g.f32(1f), g.f32(0f)))
            .loss();
    loss = g.scale(g.add(g.tf.math.mean(i2t, g.i32(0)), g.tf.math.mean(t2i, g.i32(0))), 0.5f);
    accuracy =
        g.tf.math.mean(
            g.tf.dtypes.cast(
                g.tf.math.equal(g.tf.math.argMax(logits, g.i32(1), TInt32.class), diag),
                TFloat32.class),
            g.i32(0));
  }

  /** The shapes of the text encoder, the projections and the temperature. */
  static Map<String, long[]> shapes(VisionConfig v, ClipTextSpec text, long vocabRows) {
    Map<String, long[]> m = new LinkedHashMap<>();
    long w = text.hidden();
    m.put(TEXT + "embeddings.token_embedding.weight", new long[] {vocabRows, w});
    m.put(TEXT + "embeddings.position_embedding.weight", new long[] {text.maxTokens(), w});
    for (int i = 0; i < text.layers(); i++) {
      String l = TEXT + "encoder.layers." + i + ".";
      for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        m.put(l + "self_attn." + proj + ".weight", new long[] {w, w});
        m.put(l + "self_attn." + proj + ".bias", new long[] {w});
      }
      m.put(l + "layer_norm1.weight", new long[] {w});
      m.put(l + "layer_norm1.bias", new long[] {w});
      m.put(l + "mlp.fc1.weight", new long[] {4 * w, w});
      m.put(l + "mlp.fc1.bias", new long[] {4 * w});
      m.put(l + "mlp.fc2.weight", new long[] {w, 4 * w});
      m.put(l + "mlp.fc2.bias", new long[] {w});
      m.put(l + "layer_norm2.weight", new long[] {w});
      m.put(l + "layer_norm2.bias", new long[] {w});
    }
    m.put(TEXT + "final_layer_norm.weight", new long[] {w});
    m.put(TEXT + "final_layer_norm.bias", new long[] {w});
    m.put(VISUAL_PROJECTION, new long[] {text.projection(), v.hiddenSize()});
    m.put(TEXT_PROJECTION, new long[] {text.projection(), w});
    m.put(LOGIT_SCALE, new long[] {});
    if (text.objective() == ClipTextSpec.Objective.FACTS) {
      m.put(LOGIT_BIAS, new long[] {});
    }
    return m;
  }
}
