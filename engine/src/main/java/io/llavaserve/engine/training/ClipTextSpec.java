package io.llavaserve.engine.training;

/**
 * The CLIP text encoder used only to train the vision tower contrastively.
 *
 * @param hidden width
 * @param layers encoder layers
 * @param heads attention heads
 * @param maxTokens caption length the batch is padded to
 * @param projection width of the shared image/text embedding space
 * @param hardNegatives captions per image that are false of it by one edit ({@link
 *     io.llavaserve.engine.training.world.HardNegatives}), scored against that image beside the
 *     batch's other captions
 */
public record ClipTextSpec(
    int hidden, int layers, int heads, int maxTokens, int projection, int hardNegatives) {
  public ClipTextSpec {
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
