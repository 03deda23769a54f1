package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.config.LlavaConfig;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * LLaVA's training objective as a graph: next-token cross-entropy on the assistant's tokens only,
 * over image features projected into the decoder's embedding space.
 *
 * <p>A batch is B sequences padded on the right to T tokens. Tokens are given as rows of the world
 * vocabulary ({@link WorldVocabulary}); image positions take the projected features of their image
 * instead of an embedding. The loss covers only the positions named in {@code lossIndex}, each
 * predicting the next token {@code labels}: the human turns, the image and the padding are masked
 * out by not being named, as LLaVA masks them with -100.
 *
 * <p>The logits are those of the full vocabulary, computed exactly at the cost of the world's:
 * every token outside the world shares one embedding row (the last), so their logits are equal and
 * their share of the softmax is that row's logit plus {@code log(count)}.
 */
final class LlavaLoss {

  final Placeholder<TInt32> rows; // [B, T]
  final Placeholder<TFloat32> pixels; // [N, 3, S, S]; null without images
  final Placeholder<TInt32> imageIndex; // [B, T] rows of the flat features [N * P (+ 1)]; null w/o
  final Placeholder<TFloat32> imageMask; // [B, T, 1] 1 at image positions; null without images
  final Placeholder<TInt32> lossIndex; // [M] indices into B * T
  final Placeholder<TInt32> labels; // [M] world rows of the next tokens

  /** Logits over the world rows at the loss positions, [M, V + 1] (no log-count term). */
  final Operand<TFloat32> logits;

  /** Mean cross-entropy over the M positions, a scalar. */
  final Operand<TFloat32> answerLoss;

  final Placeholder<TInt32> groundIndex; // [K] rows of the flat features; null without grounding
  final Placeholder<TInt32> groundColor; // [K] world rows of the colour words
  final Placeholder<TInt32> groundKind; // [K] world rows of the kind words

  /**
   * Mean cross-entropy of the colour and kind words read off the covered patches' features (see
   * {@link TrainingBatch.Grounding}), a scalar; null without grounding.
   */
  final Operand<TFloat32> groundingLoss;

  /** What the stage minimises: the answer loss plus the weighted grounding loss. */
  final Operand<TFloat32> loss;

  /**
   * @param withImages whether the batch has images (stage 0's text pretraining has none)
   * @param otherCount how many vocabulary ids share the "other" row
   */
  LlavaLoss(TrainOps g, Parameters p, LlavaConfig config, boolean withImages, long otherCount) {
    this(g, p, config, withImages, otherCount, 0);
  }

  /**
   * @param grounding the grounding loss's weight; 0 for LLaVA's objective alone
   */
  LlavaLoss(
      TrainOps g,
      Parameters p,
      LlavaConfig config,
      boolean withImages,
      long otherCount,
      double grounding) {
    int hidden = config.text().hiddenSize();
    rows = g.tf.withName("rows").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
    lossIndex =
        g.tf.withName("loss_index").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
    labels = g.tf.withName("labels").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
    Operand<TFloat32> embed = p.get(Towers.WORLD_EMBED); // [V + 1, hidden]
    Operand<TFloat32> x = g.gatherRows(embed, rows); // [B, T, hidden]
    if (withImages) {
      int side = config.vision().imageSize();
      pixels =
          g.tf
              .withName("pixel_values")
              .placeholder(
                  TFloat32.class,
                  Placeholder.shape(Shape.of(-1, config.vision().numChannels(), side, side)));
      imageIndex =
          g.tf
              .withName("image_index")
              .placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
      imageMask =
          g.tf
              .withName("image_mask")
              .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, 1)));
      Operand<TFloat32> features =
          g.reshape(Towers.imageFeatures(g, p, config, pixels), -1, hidden); // [N * P, hidden]
      if (config.isAnyResolution()) {
        // LLaVA-NeXT's newline row after the tiles' rows, [N * P + 1, hidden]: the image index
        // names it after each row of an image's grid, as the server's tile packing does.
        features =
            g.concat(0, List.of(features, g.reshape(p.get(WeightShapes.IMAGE_NEWLINE), 1, hidden)));
      }
      Operand<TFloat32> placed = g.gatherRows(features, imageIndex); // [B, T, hidden]
      // x = mask * image + (1 - mask) * text
      x = g.add(g.mul(imageMask, placed), g.mul(g.tf.math.sub(g.f32(1f), imageMask), x));
      if (grounding > 0) {
        groundIndex = index(g, "ground_index");
        groundColor = index(g, "ground_color");
        groundKind = index(g, "ground_kind");
        // The logit lens at the input: a covered patch's feature, RMS-normalised as the first
        // layer reads it, against the (fixed) word embeddings.
        Operand<TFloat32> f = g.gatherRows(features, groundIndex); // [K, hidden]
        Operand<TFloat32> n =
            g.mul(f, g.tf.math.rsqrt(g.add(g.meanLast(g.mul(f, f)), g.f32(1e-5f))));
        Operand<TFloat32> words = g.linear(n, g.tf.stopGradient(embed), null); // [K, V + 1]
        groundingLoss =
            g.tf.math.add(
                wordLoss(g, words, groundColor, width(p)),
                wordLoss(g, words, groundKind, width(p)));
      } else {
        groundIndex = null;
        groundColor = null;
        groundKind = null;
        groundingLoss = null;
      }
    } else {
      pixels = null;
      imageIndex = null;
      imageMask = null;
      groundIndex = null;
      groundColor = null;
      groundKind = null;
      groundingLoss = null;
    }
    Operand<TFloat32> h = Towers.decoder(g, p, config.text(), x); // [B * T, hidden]
    Operand<TFloat32> picked = g.gatherRows(h, lossIndex); // [M, hidden]
    logits = g.linear(picked, embed, null); // [M, V + 1]
    int width = width(p);
    float[] logCount = new float[width];
    logCount[width - 1] = (float) Math.log(Math.max(1, otherCount));
    Operand<TFloat32> onehot = g.tf.oneHot(labels, g.i32(width), g.f32(1f), g.f32(0f));
    Operand<TFloat32> perToken =
        g.tf
            .nn
            .softmaxCrossEntropyWithLogits(g.add(logits, g.tf.constant(logCount)), onehot)
            .loss();
    answerLoss = g.tf.math.mean(perToken, g.i32(0));
    loss =
        groundingLoss == null
            ? answerLoss
            : g.add(answerLoss, g.mul(g.f32((float) grounding), groundingLoss));
  }

  private static int width(Parameters p) {
    return (int) p.shape(Towers.WORLD_EMBED)[0];
  }

  private static Placeholder<TInt32> index(TrainOps g, String name) {
    return g.tf.withName(name).placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
  }

  /** Mean cross-entropy of {@code labels} (world rows) under {@code logits} [K, V + 1]. */
  private static Operand<TFloat32> wordLoss(
      TrainOps g, Operand<TFloat32> logits, Operand<TInt32> labels, int width) {
    Operand<TFloat32> onehot = g.tf.oneHot(labels, g.i32(width), g.f32(1f), g.f32(0f));
    return g.tf.math.mean(g.tf.nn.softmaxCrossEntropyWithLogits(logits, onehot).loss(), g.i32(0));
  }
}
