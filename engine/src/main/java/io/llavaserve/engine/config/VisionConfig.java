package io.llavaserve.engine.config;

/**
 * The CLIP vision tower's hyper-parameters, with transformers' {@code CLIPVisionConfig} defaults
 * (as LLaVA's config applies them) already filled in by the loader.
 *
 * @param hiddenSize width of the tower
 * @param intermediateSize MLP inner width
 * @param numHiddenLayers encoder layers in the checkpoint
 * @param numAttentionHeads attention heads
 * @param imageSize input side in pixels (336 for llava-1.5)
 * @param patchSize patch side in pixels (14 for llava-1.5)
 * @param numChannels input channels (3)
 * @param layerNormEps epsilon of every LayerNorm
 * @param hiddenAct MLP activation ({@code quick_gelu} for CLIP)
 */
public record VisionConfig(
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int imageSize,
    int patchSize,
    int numChannels,
    double layerNormEps,
    String hiddenAct) {

  public VisionConfig {
    TextConfig.positive("vision_config.hidden_size", hiddenSize);
    TextConfig.positive("vision_config.intermediate_size", intermediateSize);
    TextConfig.positive("vision_config.num_hidden_layers", numHiddenLayers);
    TextConfig.positive("vision_config.num_attention_heads", numAttentionHeads);
    TextConfig.positive("vision_config.image_size", imageSize);
    TextConfig.positive("vision_config.patch_size", patchSize);
    TextConfig.positive("vision_config.num_channels", numChannels);
    if (hiddenSize % numAttentionHeads != 0) {
      throw new IllegalArgumentException(
          "vision_config: hidden_size must be a multiple of num_attention_heads");
    }
    if (imageSize % patchSize != 0) {
      throw new IllegalArgumentException(
          "vision_config: image_size must be a multiple of patch_size");
    }
  }

  /** Patches per side. */
  public int patchesPerSide() {
    return imageSize / patchSize;
  }

  /** Patch tokens per image, CLS excluded (576 for ViT-L/14 at 336 px). */
  public int numPatches() {
    return patchesPerSide() * patchesPerSide();
  }

  public int headDim() {
    return hiddenSize / numAttentionHeads;
  }
}
