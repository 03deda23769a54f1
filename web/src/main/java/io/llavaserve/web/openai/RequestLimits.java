package io.llavaserve.web.openai;

/**
 * Per-request limits, each violation a 400 naming the limit.
 *
 * @param maxImagesPerRequest images across all messages
 * @param maxTokens cap on {@code max_tokens}, and its value when the client gives none
 * @param maxPromptTokens prompt positions, each image counting the positions it fills
 */
public record RequestLimits(int maxImagesPerRequest, int maxTokens, int maxPromptTokens) {

  public RequestLimits {
    if (maxImagesPerRequest < 0 || maxTokens < 1 || maxPromptTokens < 1) {
      throw new IllegalArgumentException(
          "limits: max-images-per-request must be >= 0, max-tokens and max-prompt-tokens >= 1");
    }
  }
}
