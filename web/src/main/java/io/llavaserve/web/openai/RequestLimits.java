package io.llavaserve.web.openai;

/**
 * Per-request limits, each violation a 400 naming the limit.
 *
 * @param maxImagesPerRequest images across all messages
 * @param maxTokens cap on {@code max_tokens}, and its value when the client gives none
 * @param maxPromptTokens prompt positions, each image counting the positions it fills
 * @param maxN most choices ({@code n}) per request
 */
public record RequestLimits(int maxImagesPerRequest, int maxTokens, int maxPromptTokens, int maxN) {

  /** The default of {@code limits.max-n}. */
  public static final int DEFAULT_MAX_N = 16;

  public RequestLimits {
    if (maxImagesPerRequest < 0 || maxTokens < 1 || maxPromptTokens < 1 || maxN < 1) {
      throw new IllegalArgumentException(
          "limits: max-images-per-request must be >= 0, max-tokens, max-prompt-tokens and max-n"
              + " >= 1");
    }
  }

  /** With {@code max-n} at its default. */
  public RequestLimits(int maxImagesPerRequest, int maxTokens, int maxPromptTokens) {
    this(maxImagesPerRequest, maxTokens, maxPromptTokens, DEFAULT_MAX_N);
  }
}
