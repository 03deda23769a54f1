package io.llavaserve.engine.training;

import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.training.world.Scene;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The tower taught directly what the scenes hold ({@link ClipTextSpec.Objective#PATCHES}): small
 * heads on the very features the projector reads (the feature layer, class token dropped) predict,
 * for every patch, whether a shape's centre lies in it and that shape's colour, kind and region,
 * and from the patches' mean how many shapes the image holds in all, per colour and per kind. This
 * is a supervised pretraining of the tower, as ViTs were first pretrained on labelled images; the
 * heads are thrown away after the stage, like CLIP's text encoder.
 *
 * <p>With {@link ClipTextSpec.Objective#COUNTS} the patch head also predicts, for every patch a
 * shape covers, how many of the scene's shapes share its colour and how many its kind, so that the
 * number of blue shapes lies on every blue patch rather than only in the image's mean.
 *
 * <p>Patch labels are fed as {@code [N * patches, 2 + colours + kinds + regions]} (the centre and
 * covered flags, then one-hot colour and kind, zero where no shape covers the patch, and region,
 * zero away from centres), with the counts two more one-hot groups of {@link Scene#MAX_SHAPES}
 * (zero where no shape covers); image labels as {@code [N, counts + colours * COUNTS + kinds *
 * COUNTS]} one-hot groups. See {@link PatchTargets}.
 */
final class PatchLoss {

  static final String PATCH_HEAD = "clip.patch_head.";
  static final String IMAGE_HEAD = "clip.image_head.";

  /** Width of a patch's label row: centre and covered flags, colour, kind and region one-hots. */
  static final int PATCH_LABELS =
      2 + PatchTargets.COLORS + PatchTargets.KINDS + PatchTargets.REGIONS;

  /** The same with the colour and kind counts of {@link ClipTextSpec.Objective#COUNTS} after it. */
  static final int COUNT_PATCH_LABELS = PATCH_LABELS + 2 * Scene.MAX_SHAPES;

  /** Width of an image's label row: total count, then per colour and per kind counts. */
  static final int IMAGE_LABELS =
      (PatchTargets.COUNTS - 1) + (PatchTargets.COLORS + PatchTargets.KINDS) * PatchTargets.COUNTS;

  /** The per colour and per kind counts together weigh as much as two heads. */
  static final float GROUP_WEIGHT = 2f;

  /** Positive centres weigh this much more than empty patches (about 2.5 of 64 patches are). */
  static final float CENTRE_WEIGHT = 4f;

  final Placeholder<TFloat32> pixels; // [N, 3, S, S]
  final Placeholder<TFloat32> patchLabels; // [N * P, PATCH_LABELS]
  final Placeholder<TFloat32> imageLabels; // [N, IMAGE_LABELS]

  /** The heads' losses summed, a scalar. */
  final Operand<TFloat32> loss;

  /**
   * Kind accuracy at the centre patches, whether the tower tells the shapes apart; with the shared
   * counts, what they add: how often a covered patch tells how many shapes share its colour.
   */
  final Operand<TFloat32> accuracy;

  /** Width of this loss's patch label rows. */
  final int patchLabelWidth;

  /**
   * @param shares whether the patches also learn how many shapes share their colour and kind
   *     ({@link ClipTextSpec.Objective#COUNTS})
   */
  PatchLoss(TrainOps g, Parameters p, LlavaConfig config, boolean shares) {
    patchLabelWidth = patchLabels(shares);
    VisionConfig v = config.vision();
    int side = v.imageSize();
    int hidden = v.hiddenSize();
    int patches = v.numPatches();
    pixels =
        g.tf
            .withName("pixel_values")
            .placeholder(
                TFloat32.class, Placeholder.shape(Shape.of(-1, v.numChannels(), side, side)));
    patchLabels =
        g.tf
            .withName("patch_labels")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, patchLabelWidth)));
    imageLabels =
        g.tf
            .withName("image_labels")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, IMAGE_LABELS)));

    Operand<TFloat32> states = Towers.vision(g, p, v, pixels, config.visionLayersUsed());
    Operand<TFloat32> patchStates =
        g.tf.slice(
            states,
            g.tf.constant(new int[] {0, 1, 0}),
            g.tf.constant(new int[] {-1, patches, hidden}));
    Operand<TFloat32> flat = g.reshape(patchStates, -1, hidden);

    // Per patch.
    Operand<TFloat32> out = head(g, p, PATCH_HEAD, flat, v.layerNormEps());
    Operand<TFloat32> z = g.reshape(columns(g, out, 0, 1), -1);
    Operand<TFloat32> centre = g.reshape(columns(g, patchLabels, 0, 1), -1);
    Operand<TFloat32> weight = g.add(g.f32(1f), g.scale(centre, CENTRE_WEIGHT - 1));
    Operand<TInt32> rows = g.i32(0);
    Operand<TFloat32> centreLoss =
        g.tf.math.div(
            g.tf.reduceSum(
                g.mul(weight, g.tf.math.sub(g.tf.math.softplus(z), g.mul(centre, z))), rows),
            g.tf.reduceSum(weight, rows));
    Operand<TFloat32> centres = g.tf.math.maximum(g.tf.reduceSum(centre, rows), g.f32(1f));
    Operand<TFloat32> covered = g.reshape(columns(g, patchLabels, 1, 1), -1);
    Operand<TFloat32> parts = g.tf.math.maximum(g.tf.reduceSum(covered, rows), g.f32(1f));
    int at = 2;
    Operand<TFloat32> colorLoss =
        maskedCrossEntropy(g, out, patchLabels, at, PatchTargets.COLORS, covered, parts);
    at += PatchTargets.COLORS;
    Operand<TFloat32> kindLoss =
        maskedCrossEntropy(g, out, patchLabels, at, PatchTargets.KINDS, covered, parts);
    Operand<TFloat32> kindHit = hits(g, out, patchLabels, at, PatchTargets.KINDS);
    at += PatchTargets.KINDS;
    Operand<TFloat32> regionLoss =
        maskedCrossEntropy(g, out, patchLabels, at, PatchTargets.REGIONS, centre, centres);
    at += PatchTargets.REGIONS;
    Operand<TFloat32> shareLoss = g.f32(0f);
    Operand<TFloat32> colorShareHit = null;
    if (shares) {
      colorShareHit = hits(g, out, patchLabels, at, Scene.MAX_SHAPES);
      shareLoss =
          g.add(
              maskedCrossEntropy(g, out, patchLabels, at, Scene.MAX_SHAPES, covered, parts),
              maskedCrossEntropy(
                  g, out, patchLabels, at + Scene.MAX_SHAPES, Scene.MAX_SHAPES, covered, parts));
    }

    // Per image, from the mean of its patches.
    Operand<TFloat32> pooled = g.tf.math.mean(patchStates, g.i32(1));
    Operand<TFloat32> image = head(g, p, IMAGE_HEAD, pooled, v.layerNormEps());
    int counts = PatchTargets.COUNTS;
    Operand<TFloat32> countLoss = crossEntropy(g, image, imageLabels, 0, counts - 1, counts - 1);
    int groups = PatchTargets.COLORS + PatchTargets.KINDS;
    Operand<TFloat32> groupLoss =
        crossEntropy(g, image, imageLabels, counts - 1, groups * counts, counts);

    loss =
        g.add(
            g.add(
                g.add(g.add(centreLoss, colorLoss), g.add(kindLoss, regionLoss)),
                g.add(countLoss, g.scale(groupLoss, GROUP_WEIGHT))),
            shareLoss);

    accuracy =
        shares
            ? g.tf.math.div(g.tf.reduceSum(g.mul(colorShareHit, covered), rows), parts)
            : g.tf.math.div(g.tf.reduceSum(g.mul(kindHit, centre), rows), centres);
  }

  /**
   * 1 for each row whose largest logit among columns {@code from} to {@code from + width} is its
   * one-hot label's, else 0.
   */
  private static Operand<TFloat32> hits(
      TrainOps g, Operand<TFloat32> logits, Operand<TFloat32> labels, int from, int width) {
    return g.tf.dtypes.cast(
        g.tf.math.equal(
            g.tf.math.argMax(columns(g, logits, from, width), g.i32(1), TInt32.class),
            g.tf.math.argMax(columns(g, labels, from, width), g.i32(1), TInt32.class)),
        TFloat32.class);
  }

  /** LayerNorm then a linear layer: [rows, hidden] to [rows, outputs]. */
  private static Operand<TFloat32> head(
      TrainOps g, Parameters p, String name, Operand<TFloat32> x, double eps) {
    Operand<TFloat32> h =
        g.layerNorm(x, p.get(name + "layer_norm.weight"), p.get(name + "layer_norm.bias"), eps);
    return g.linear(h, p.get(name + "weight"), p.get(name + "bias"));
  }

  /** Columns {@code from} to {@code from + width} of a [rows, cols] matrix. */
  private static Operand<TFloat32> columns(TrainOps g, Operand<TFloat32> x, int from, int width) {
    return g.tf.slice(x, g.tf.constant(new int[] {0, from}), g.tf.constant(new int[] {-1, width}));
  }

  /**
   * Softmax cross-entropy of one one-hot group over the rows {@code mask} marks, averaged over
   * {@code marked} rows. The mask also stops the gradient of the unlabelled rows, whose all-zero
   * labels would otherwise push their logits down.
   */
  private static Operand<TFloat32> maskedCrossEntropy(
      TrainOps g,
      Operand<TFloat32> logits,
      Operand<TFloat32> labels,
      int from,
      int width,
      Operand<TFloat32> mask,
      Operand<TFloat32> marked) {
    Operand<TFloat32> ce =
        g.tf
            .nn
            .softmaxCrossEntropyWithLogits(
                columns(g, logits, from, width), columns(g, labels, from, width))
            .loss();
    return g.tf.math.div(g.tf.reduceSum(g.mul(mask, ce), g.i32(0)), marked);
  }

  /**
   * Mean softmax cross-entropy of the one-hot groups of {@code classes} each that fill columns
   * {@code from} to {@code from + width} of every row.
   */
  private static Operand<TFloat32> crossEntropy(
      TrainOps g,
      Operand<TFloat32> logits,
      Operand<TFloat32> labels,
      int from,
      int width,
      int classes) {
    Operand<TFloat32> ce =
        g.tf
            .nn
            .softmaxCrossEntropyWithLogits(
                g.reshape(columns(g, logits, from, width), -1, classes),
                g.reshape(columns(g, labels, from, width), -1, classes))
            .loss();
    return g.tf.math.mean(ce, g.i32(0));
  }

  /**
   * Whether the supervised stage reads this tower or head parameter: the heads read the feature
   * layer, so the layers past it and the post-LayerNorm (which only the class token's embedding
   * uses) are left as they are.
   */
  static boolean reads(String name, LlavaConfig config) {
    String layers = io.llavaserve.engine.checkpoint.WeightShapes.VISION + "encoder.layers.";
    if (name.startsWith(layers)) {
      int end = name.indexOf('.', layers.length());
      return Integer.parseInt(name.substring(layers.length(), end)) < config.visionLayersUsed();
    }
    return !name.contains("post_layernorm");
  }

  /** Width of the patch label rows, with or without the shared counts. */
  static int patchLabels(boolean shares) {
    return shares ? COUNT_PATCH_LABELS : PATCH_LABELS;
  }

  /** The two heads' shapes. */
  static Map<String, long[]> shapes(VisionConfig v, boolean shares) {
    Map<String, long[]> m = new LinkedHashMap<>();
    long h = v.hiddenSize();
    m.put(PATCH_HEAD + "layer_norm.weight", new long[] {h});
    m.put(PATCH_HEAD + "layer_norm.bias", new long[] {h});
    m.put(PATCH_HEAD + "weight", new long[] {patchLabels(shares), h});
    m.put(PATCH_HEAD + "bias", new long[] {patchLabels(shares)});
    m.put(IMAGE_HEAD + "layer_norm.weight", new long[] {h});
    m.put(IMAGE_HEAD + "layer_norm.bias", new long[] {h});
    m.put(IMAGE_HEAD + "weight", new long[] {IMAGE_LABELS, h});
    m.put(IMAGE_HEAD + "bias", new long[] {IMAGE_LABELS});
    return m;
  }

  /**
   * The label rows of a batch of scenes' targets: [N * P, {@link #patchLabels}] and [N,
   * IMAGE_LABELS].
   */
  static float[][] labels(java.util.List<PatchTargets> targets, boolean shares) {
    int n = targets.size();
    int cells = n == 0 ? 0 : targets.get(0).centre().length;
    int width = patchLabels(shares);
    float[] patch = new float[n * cells * width];
    float[] image = new float[n * IMAGE_LABELS];
    int counts = PatchTargets.COUNTS;
    for (int i = 0; i < n; i++) {
      PatchTargets t = targets.get(i);
      for (int c = 0; c < cells; c++) {
        int row = (i * cells + c) * width;
        patch[row] = t.centre()[c];
        if (t.kind()[c] >= 0) {
          patch[row + 1] = 1f;
          patch[row + 2 + t.color()[c]] = 1f;
          patch[row + 2 + PatchTargets.COLORS + t.kind()[c]] = 1f;
          if (shares) {
            patch[row + PATCH_LABELS + t.colorShare()[c] - 1] = 1f;
            patch[row + PATCH_LABELS + Scene.MAX_SHAPES + t.kindShare()[c] - 1] = 1f;
          }
        }
        if (t.region()[c] >= 0) {
          patch[row + 2 + PatchTargets.COLORS + PatchTargets.KINDS + t.region()[c]] = 1f;
        }
      }
      int row = i * IMAGE_LABELS;
      image[row + t.count() - 1] = 1f;
      int at = row + counts - 1;
      for (int k = 0; k < PatchTargets.COLORS; k++, at += counts) {
        image[at + t.colorCounts()[k]] = 1f;
      }
      for (int k = 0; k < PatchTargets.KINDS; k++, at += counts) {
        image[at + t.kindCounts()[k]] = 1f;
      }
    }
    return new float[][] {patch, image};
  }
}
