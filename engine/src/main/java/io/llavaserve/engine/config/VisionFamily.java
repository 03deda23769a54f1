package io.llavaserve.engine.config;

/**
 * The vision towers a llava checkpoint's {@code vision_config.model_type} may name. Both are ViTs
 * with the same encoder layers (pre-norm LayerNorm, biased q/k/v/out projections, a two-layer MLP);
 * they differ in the embeddings. CLIP prepends a class token, has no bias on the patch convolution
 * and a LayerNorm before the encoder ({@code pre_layrnorm}); SigLIP has no class token, a biased
 * patch convolution, no LayerNorm before the encoder, and tanh-approximated GELU. Neither tower's
 * final LayerNorm reaches llava, which reads hidden states before it.
 */
public enum VisionFamily {
  CLIP("clip_vision_model"),
  SIGLIP("siglip_vision_model");

  private final String modelType;

  VisionFamily(String modelType) {
    this.modelType = modelType;
  }

  /** The {@code model_type} transformers writes for this tower. */
  public String modelType() {
    return modelType;
  }

  /** Whether the tower prepends a class token to the patches (CLIP does, SigLIP does not). */
  public boolean hasClassToken() {
    return this == CLIP;
  }

  /** The family of a {@code model_type}, or null when none of these is it. */
  public static VisionFamily of(String modelType) {
    for (VisionFamily f : values()) {
      if (f.modelType.equals(modelType)) {
        return f;
      }
    }
    return null;
  }
}
