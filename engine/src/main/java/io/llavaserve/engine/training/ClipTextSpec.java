package io.llavaserve.engine.training;

/**
 * The CLIP text encoder used only to train the vision tower contrastively.
 *
 * @param hidden width
 * @param layers encoder layers
 * @param heads attention heads
 * @param maxTokens caption length the batch is padded to
 * @param projection width of the shared image/text embedding space
 * @param hardNegatives with {@link Objective#CAPTIONS}: captions per image that are false of it by
 *     one edit ({@link io.llavaserve.engine.training.world.HardNegatives}), scored against that
 *     image beside the batch's other captions
 * @param objective what the image embeddings are trained to match
 */
public record ClipTextSpec(
    int hidden,
    int layers,
    int heads,
    int maxTokens,
    int projection,
    int hardNegatives,
    Objective objective) {

  /** The contrastive objective of the CLIP stage. */
  public enum Objective {
    /**
     * CLIP's: each image's one caption against the batch's other captions (and its hard negatives),
     * a softmax over captions and one over images.
     */
    CAPTIONS,
    /**
     * SigLIP's pairwise sigmoid loss over short {@link io.llavaserve.engine.training.world.Facts}:
     * every image of the batch judged against every fact the batch drew, each pair a yes/no with a
     * learned temperature and bias.
     */
    FACTS,
    /**
     * No text at all: the tower supervised per patch by the scene's geometry ({@link PatchLoss}),
     * each object's centre patch labelled with its colour, kind and region, each image with its
     * counts. The text encoder is not built.
     */
    PATCHES,
    /**
     * {@link #PATCHES}, and every patch a shape covers also told how many of the scene's shapes
     * share that shape's colour and how many its kind: a count laid out on each part of every shape
     * it is about, so that attention that finds the shapes of a colour reads their number from
     * them.
     */
    COUNTS;

    /** Whether the tower is supervised by the scenes ({@link PatchLoss}) rather than by text. */
    public boolean supervised() {
      return this == PATCHES || this == COUNTS;
    }
  }

  public ClipTextSpec {
    if (objective == null) {
      throw new IllegalArgumentException("clip text: objective must not be null");
    }
    if (objective != Objective.CAPTIONS && hardNegatives != 0) {
      throw new IllegalArgumentException(
          "clip text: hard-negative captions belong to the CAPTIONS objective, not " + objective);
    }
    if (hidden <= 0 || layers <= 0 || heads <= 0 || hidden % heads != 0) {
      throw new IllegalArgumentException(
          "clip text: hidden " + hidden + " must be a positive multiple of heads " + heads);
    }
    if (maxTokens <= 0 || projection <= 0) {
      throw new IllegalArgumentException("clip text: maxTokens and projection must be positive");
    }
    if (hardNegatives < 0) {
      throw new IllegalArgumentException("clip text: hardNegatives must not be negative");
    }
  }
}
