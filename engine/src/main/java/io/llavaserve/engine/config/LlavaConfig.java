package io.llavaserve.engine.config;

/**
 * A LLaVA checkpoint's configuration: vision tower, projector, language model and how the three are
 * joined.
 *
 * @param vision the CLIP or SigLIP tower
 * @param text the decoder
 * @param projector linear (LLaVA-1.0) or two-layer MLP (LLaVA-1.5)
 * @param projectorHiddenAct activation between the MLP projector's layers ({@code gelu})
 * @param imageTokenIndex id of the {@code <image>} placeholder token
 * @param visionFeatureLayer hidden state of the tower that feeds the projector; negative counts
 *     from the end as in Python ({@code -2} is the penultimate layer's output)
 * @param visionFeatureSelectStrategy {@code default} drops the tower's first token (CLIP's class
 *     token; for SigLIP, which has none, its first patch, as transformers does), {@code full} keeps
 *     every token
 * @param imageSeqLength positions one image occupies in the expanded sequence
 * @param padTokenId padding id, or -1 when the config has none
 */
public record LlavaConfig(
    VisionConfig vision,
    TextConfig text,
    ProjectorKind projector,
    String projectorHiddenAct,
    int imageTokenIndex,
    int visionFeatureLayer,
    String visionFeatureSelectStrategy,
    int imageSeqLength,
    int padTokenId) {

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
