package io.llavaserve.engine.config;

/**
 * A LLaVA checkpoint's configuration: vision tower, projector, language model and how the three are
 * joined.
 *
 * @param vision the CLIP or SigLIP tower
 * @param text the decoder
 * @param projector linear (LLaVA-1.0) or two-layer MLP (LLaVA-1.5)
 * @param projectorHiddenAct activation between the MLP projector's layers ({@code gelu})
 * @param projectorBias whether the projector's linear layers have biases ({@code
 *     multimodal_projector_bias}, true unless a config says false)
 * @param imageTokenIndex id of the {@code <image>} placeholder token
 * @param visionFeatureLayer hidden state of the tower that feeds the projector; negative counts
 *     from the end as in Python ({@code -2} is the penultimate layer's output)
 * @param visionFeatureSelectStrategy {@code default} drops the tower's first token (CLIP's class
 *     token; for SigLIP, which has none, its first patch, as transformers does), {@code full} keeps
 *     every token
 * @param imageSeqLength positions one image occupies in the expanded sequence
 * @param padTokenId padding id, or -1 when the config has none
 * @param anyResolution LLaVA-NeXT's tiling ({@code model_type: llava_next}) or LLaVA-OneVision's
 *     ({@code llava_onevision}: {@code anyres_max_N}), or null for llava, where every image is one
 *     tile
 */
public record LlavaConfig(
    VisionConfig vision,
    TextConfig text,
    ProjectorKind projector,
    String projectorHiddenAct,
    boolean projectorBias,
    int imageTokenIndex,
    int visionFeatureLayer,
    String visionFeatureSelectStrategy,
    int imageSeqLength,
    int padTokenId,
    AnyResolution anyResolution) {

  /** A llava config: one tile per image, the projector with biases. */
  public LlavaConfig(
      VisionConfig vision,
      TextConfig text,
      ProjectorKind projector,
      String projectorHiddenAct,
      int imageTokenIndex,
      int visionFeatureLayer,
      String visionFeatureSelectStrategy,
      int imageSeqLength,
      int padTokenId) {
    this(
        vision,
        text,
        projector,
        projectorHiddenAct,
        true,
        imageTokenIndex,
        visionFeatureLayer,
        visionFeatureSelectStrategy,
        imageSeqLength,
        padTokenId,
        null);
  }

  public LlavaConfig {
    if (!visionFeatureSelectStrategy.equals("default")
        && !visionFeatureSelectStrategy.equals("full")) {
      throw new IllegalArgumentException(
          "vision_feature_select_strategy must be \"default\" or \"full\", got \""
              + visionFeatureSelectStrategy
              + "\"");
    }
    int layers = vision.numHiddenLayers();
    if (visionFeatureLayer < -(layers + 1) || visionFeatureLayer > layers) {
      throw new IllegalArgumentException(
          "vision_feature_layer "
              + visionFeatureLayer
              + " is outside the tower's "
              + layers
              + " layers");
    }
    int tokens = vision.sequenceLength() - (visionFeatureSelectStrategy.equals("full") ? 0 : 1);
    if (imageSeqLength != tokens) {
      throw new IllegalArgumentException(
          "image_seq_length is "
              + imageSeqLength
              + " but the vision tower yields "
              + tokens
              + " features per image");
    }
    if (anyResolution != null) {
      if (anyResolution.tileSize() != vision.imageSize()
          || anyResolution.patchesPerSide() != vision.patchesPerSide()) {
        throw new IllegalArgumentException(
            "any-resolution tiles of "
                + anyResolution.tileSize()
                + " px in "
                + anyResolution.patchesPerSide()
                + " patches a side do not match the tower's "
                + vision.imageSize()
                + " px in "
                + vision.patchesPerSide());
      }
      // The grid's features are re-assembled as a square map per tile.
      if (imageSeqLength != anyResolution.featuresPerTile()) {
        throw new IllegalArgumentException(
            "vision_feature_select_strategy \""
                + visionFeatureSelectStrategy
                + "\" gives "
                + imageSeqLength
                + " features per tile, not the "
                + anyResolution.patchesPerSide()
                + " x "
                + anyResolution.patchesPerSide()
                + " map llava_next re-assembles");
      }
    }
  }

  /**
   * {@code llava_onevision} or {@code llava_next} when images are tiled at any resolution, else
   * {@code llava}.
   */
  public String modelType() {
    if (anyResolution == null) {
      return "llava";
    }
    return anyResolution.isOneVision() ? "llava_onevision" : "llava_next";
  }

  /** Whether images are tiled at any resolution (LLaVA-NeXT or LLaVA-OneVision). */
  public boolean isAnyResolution() {
    return anyResolution != null;
  }

  /** Whether this is LLaVA-OneVision ({@code anyres_max_N}). */
  public boolean isOneVision() {
    return anyResolution != null && anyResolution.isOneVision();
  }

  /**
   * Positions a tiled image of {@code height x width} pixels (as decoded, before any resize) fills
   * in the expanded prompt: {@code image_seq_length} for llava, whatever the size; for llava_next
   * and llava_onevision the base tile, the un-padded (for llava_onevision perhaps reduced) grid and
   * a newline per grid row ({@link AnyResolution#positions(int, int)}).
   */
  public int imagePositions(int height, int width) {
    return anyResolution == null ? imageSeqLength : anyResolution.positions(height, width);
  }

  /**
   * Positions an image run as {@code tiles} tiles fills: as {@link #imagePositions(int, int)}, and
   * for llava_onevision an untiled image (one of several in its prompt) its tile's features and one
   * newline.
   */
  public int imagePositions(int tiles, int height, int width) {
    return anyResolution == null ? imageSeqLength : anyResolution.positions(tiles, height, width);
  }

  /** This config with {@code projector} instead. */
  public LlavaConfig withProjector(ProjectorKind projector) {
    return new LlavaConfig(
        vision,
        text,
        projector,
        projectorHiddenAct,
        projectorBias,
        imageTokenIndex,
        visionFeatureLayer,
        visionFeatureSelectStrategy,
        imageSeqLength,
        padTokenId,
        anyResolution);
  }

  /** This config with or without the projector's biases. */
  public LlavaConfig withProjectorBias(boolean projectorBias) {
    return new LlavaConfig(
        vision,
        text,
        projector,
        projectorHiddenAct,
        projectorBias,
        imageTokenIndex,
        visionFeatureLayer,
        visionFeatureSelectStrategy,
        imageSeqLength,
        padTokenId,
        anyResolution);
  }

  /**
   * Encoder layers that must run to produce the feature layer: hidden state {@code i} is the output
   * of layer {@code i} (state 0 is the embeddings), so layers past it are skipped.
   */
  public int visionLayersUsed() {
    int states = vision.numHiddenLayers() + 1;
    return visionFeatureLayer < 0 ? states + visionFeatureLayer : visionFeatureLayer;
  }

  /**
   * Whether the tower's first output token is dropped: the CLS token for CLIP, the first patch for
   * SigLIP (transformers' llava slices {@code [:, 1:]} whatever the tower).
   */
  public boolean dropsClsToken() {
    return visionFeatureSelectStrategy.equals("default");
  }
}
