package io.llavaserve.engine.config;

/**
 * The vision tower's hyper-parameters, with the defaults of its family's transformers config
 * ({@code CLIPVisionConfig} or {@code SiglipVisionConfig}, as LLaVA's config applies them) already
 * filled in by the loader.
 *
 * @param hiddenSize width of the tower
 * @param intermediateSize MLP inner width
 * @param numHiddenLayers encoder layers in the checkpoint
 * @param numAttentionHeads attention heads
 * @param imageSize input side in pixels (336 for llava-1.5, 384 for SigLIP)
 * @param patchSize patch side in pixels (14 for both)
 * @param numChannels input channels (3)
 * @param layerNormEps epsilon of every LayerNorm
 * @param hiddenAct MLP activation ({@code quick_gelu} for CLIP, {@code gelu_pytorch_tanh} for
 *     SigLIP)
 * @param family CLIP or SigLIP: which embeddings the tower has
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
    String hiddenAct,
    VisionFamily family) {

  /** A CLIP tower. */
  public VisionConfig(
      int hiddenSize,
      int intermediateSize,
      int numHiddenLayers,
      int numAttentionHeads,
      int imageSize,
      int patchSize,
      int numChannels,
      double layerNormEps,
      String hiddenAct) {
    this(
        hiddenSize,
        intermediateSize,
        numHiddenLayers,
        numAttentionHeads,
        imageSize,
        patchSize,
        numChannels,
        layerNormEps,
        hiddenAct,
        VisionFamily.CLIP);
  }

  public VisionConfig {
    if (family == null) {
      throw new IllegalArgumentException("vision_config: family must not be null");
    }
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
    // SigLIP's patch convolution drops the pixels past the last whole patch (384 px in 14 px
    // patches: 27 per side, 6 px unused); the CLIP graph assumes whole patches.
    if (family == VisionFamily.CLIP && imageSize % patchSize != 0) {
      throw new IllegalArgumentException(
          "vision_config: image_size must be a multiple of patch_size");
    }
    if (patchSize > imageSize) {
      throw new IllegalArgumentException(
          "vision_config: patch_size " + patchSize + " exceeds image_size " + imageSize);
    }
  }

  /** Whole patches per side ({@code image_size // patch_size}). */
  public int patchesPerSide() {
    return imageSize / patchSize;
  }

  /** Patch tokens per image, CLS excluded (576 for ViT-L/14 at 336 px, 729 for SigLIP at 384). */
  public int numPatches() {
    return patchesPerSide() * patchesPerSide();
  }

  /** Tokens the encoder runs on: the patches, plus the class token where the family has one. */
  public int sequenceLength() {
    return numPatches() + (family.hasClassToken() ? 1 : 0);
  }

  public int headDim() {
    return hiddenSize / numAttentionHeads;
  }
}
