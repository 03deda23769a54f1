package io.llavaserve.batching.engine;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.runner.ExpandedPrompt;

/**
 * The one admission check of a request, against the running engine's own spec: as many images as
 * image placeholders, token ids (of the prompt and of the logit bias) inside the vocabulary, a
 * prompt that leaves room to generate (and that fits a server's own prompt limit, when it sets
 * one), and {@code max_tokens} that fit the context after the prompt. Each refusal is a {@link
 * RequestRejectedException} naming the field, the limit and the value.
 *
 * <p>The engine builds it from its spec ({@link LlavaEngine#validator()}); a server narrows it with
 * its configured limits ({@link #withMaxPromptTokens}) and submits through it, so every transport
 * is checked once, at admission, by the same code. Immutable; safe on any thread.
 */
public final class RequestValidator {

  private final ModelSpec spec;
  private final int vocabSize;
  private final int maxPromptTokens;
  private final String promptLimitSetting;

  /** The engine's own checks: a prompt may fill the context but one position. */
  RequestValidator(ModelSpec spec, int vocabSize) {
    this(spec, vocabSize, spec.maxModelLen() - 1, null);
  }

  private RequestValidator(
      ModelSpec spec, int vocabSize, int maxPromptTokens, String promptLimitSetting) {
    if (vocabSize < 1) {
      throw new IllegalArgumentException("vocabSize must be >= 1, got " + vocabSize);
    }
    this.spec = spec;
    this.vocabSize = vocabSize;
    this.maxPromptTokens = maxPromptTokens;
    this.promptLimitSetting = promptLimitSetting;
  }

  /** The spec of the engine this validator admits for. */
  public ModelSpec spec() {
    return spec;
  }

  /** Most prompt positions admitted (images counted at the positions they fill). */
  public int maxPromptTokens() {
    return maxPromptTokens;
  }

  /**
   * This validator, also refusing prompts of more than {@code max} positions, with {@code setting}
   * (the configuration key of the limit) named in the message. Never looser than the context.
   */
  public RequestValidator withMaxPromptTokens(int max, String setting) {
    if (max < 1) {
      throw new IllegalArgumentException(setting + " must be >= 1, got " + max);
    }
    return max >= maxPromptTokens ? this : new RequestValidator(spec, vocabSize, max, setting);
  }

  /** Positions {@code promptIds} fill once each image token expands to its rows. */
  public int promptPositions(int[] promptIds) {
    int images = 0;
    for (int id : promptIds) {
      images += id == spec.imageTokenId() ? 1 : 0;
    }
    return promptIds.length + images * (spec.rowsPerImage() - 1);
  }

  /**
   * {@code max_tokens} for a request that gave none (as vLLM does it): {@code cap}, or fewer so
   * that the output fits the context after {@code promptPositions}; at least 1, so that a prompt
   * too long is refused for its length, not for its output.
   */
  public int defaultMaxTokens(int promptPositions, int cap) {
    return Math.max(1, Math.min(cap, spec.maxModelLen() - promptPositions));
  }

  /**
   * Checks {@code r} and returns its expanded prompt.
   *
   * @throws RequestRejectedException naming the first field that does not fit
   */
  public ExpandedPrompt validate(GenerationRequest r) {
    ExpandedPrompt prompt =
        ExpandedPrompt.expand(r.promptIds(), spec.imageTokenId(), spec.rowsPerImage());
    if (prompt.imageCount() != r.images().size()) {
      throw new RequestRejectedException(
          "images",
          prompt.imageCount(),
          r.images().size(),
          "images: the prompt has "
              + prompt.imageCount()
              + " image placeholders but "
              + r.images().size()
              + " images were given");
    }
    for (int id : r.promptIds()) {
      if (id != spec.imageTokenId() && (id < 0 || id >= vocabSize)) {
        throw new RequestRejectedException(
            "prompt",
            vocabSize - 1,
            id,
            "prompt: token id " + id + " is outside the vocabulary of " + vocabSize);
      }
    }
    for (int id : r.sampling().logitBias().keySet()) {
      if (id >= vocabSize) {
        throw new RequestRejectedException(
            "logit_bias",
            vocabSize - 1,
            id,
            "logit_bias: token id " + id + " is outside the vocabulary of " + vocabSize);
      }
    }
    int positions = prompt.length();
    if (positions >= spec.maxModelLen()) {
      throw new RequestRejectedException(
          "prompt",
          spec.maxModelLen() - 1,
          positions,
          "prompt: "
              + positions
              + " positions (images count "
              + spec.rowsPerImage()
              + " each) leave no room to generate within the context length of "
              + spec.maxModelLen());
    }
    if (positions > maxPromptTokens) {
      throw new RequestRejectedException(
          "prompt",
          maxPromptTokens,
          positions,
          "prompt: the prompt fills "
              + positions
              + " positions (each image "
              + spec.rowsPerImage()
              + "); at most "
              + maxPromptTokens
              + " are allowed ("
              + promptLimitSetting
              + ")");
    }
    int maxTokens = r.sampling().maxTokens();
    if ((long) positions + maxTokens > spec.maxModelLen()) {
      throw new RequestRejectedException(
          "max_tokens",
          spec.maxModelLen() - positions,
          maxTokens,
          "max_tokens: "
              + maxTokens
              + " with a prompt of "
              + positions
              + " positions exceeds the context length of "
              + spec.maxModelLen()
              + "; at most "
              + (spec.maxModelLen() - positions)
              + " tokens fit");
    }
    return prompt;
  }

  /** Whether this validator checks against {@code spec} and {@code vocabSize}. */
  boolean isFor(ModelSpec spec, int vocabSize) {
    return this.spec.equals(spec) && this.vocabSize == vocabSize;
  }
}
