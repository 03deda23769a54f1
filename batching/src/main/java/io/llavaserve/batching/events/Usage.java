package io.llavaserve.batching.events;

/**
 * Token counts of a finished request, as OpenAI's {@code usage} reports them.
 *
 * @param promptTokens positions of the prompt, each image counting its feature rows
 * @param cachedPromptTokens prompt positions whose keys and values came from the prefix cache
 * @param completionTokens tokens generated
 */
public record Usage(int promptTokens, int cachedPromptTokens, int completionTokens) {

  public Usage {
    if (promptTokens < 0 || cachedPromptTokens < 0 || completionTokens < 0) {
      throw new IllegalArgumentException("token counts must be >= 0");
    }
  }

  public int totalTokens() {
    return promptTokens + completionTokens;
  }
}
