package io.llavaserve.batching.engine;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ExpandedPrompt;
import java.util.List;

/**
 * The one admission check of a request, against the running engine's own spec: as many images as
 * image placeholders, token ids (of the prompt and of the logit bias) inside the vocabulary, a
 * prompt that leaves room to generate (and that fits a server's own prompt limit, when it sets
 * one), {@code max_tokens} that fit the context after the prompt, and {@code n} choices that fit
 * the KV pool together (the prompt's full blocks counted once). Each refusal is a {@link
 * RequestRejectedException} naming the field, the limit and the value.
 *
 * <p>The engine builds it from its spec ({@link LlavaEngine#validator()}); a server narrows it with
 * its configured limits ({@link #withMaxPromptTokens}) and submits through it, so every transport
 * is checked once, at admission, by the same code. Immutable; safe on any thread.
 */
public final class RequestValidator {

  private final ModelSpec spec;
  private final int vocabSize;
  private final int numBlocks;
  private final int blockSize;
  private final int maxPromptTokens;
  private final String promptLimitSetting;

  /**
   * The engine's own checks: a prompt may fill the context but one position, and the {@code n}
   * choices of a request must fit the KV pool together.
   *
   * @param numBlocks blocks of the engine's KV pool
   * @param blockSize positions per block
   */
  RequestValidator(ModelSpec spec, int vocabSize, int numBlocks, int blockSize) {
    this(spec, vocabSize, numBlocks, blockSize, spec.maxModelLen() - 1, null);
  }

  private RequestValidator(
      ModelSpec spec,
      int vocabSize,
      int numBlocks,
      int blockSize,
      int maxPromptTokens,
      String promptLimitSetting) {
    if (vocabSize < 1) {
      throw new IllegalArgumentException("vocabSize must be >= 1, got " + vocabSize);
    }
    if (numBlocks < 1 || blockSize < 1) {
      throw new IllegalArgumentException(
          "the KV pool must have blocks, got " + numBlocks + " of " + blockSize);
    }
    this.spec = spec;
    this.vocabSize = vocabSize;
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
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
    return max >= maxPromptTokens
        ? this
        : new RequestValidator(spec, vocabSize, numBlocks, blockSize, max, setting);
  }

  /**
   * Positions {@code promptIds} fill once each image token expands to {@code rowsPerImage} rows
   * (exact for llava; a llava_next image's count depends on its size, see {@link
   * #promptPositions(int[], List)}).
   */
  public int promptPositions(int[] promptIds) {
    int images = ExpandedPrompt.imageTokens(promptIds, spec.imageTokenId());
    return promptIds.length + images * (spec.rowsPerImage() - 1);
  }

  /**
   * Positions {@code promptIds} fill once the {@code i}-th image token expands to image {@code i}'s
   * rows; as {@link #promptPositions(int[])} when the counts differ (admission refuses that).
   */
  public int promptPositions(int[] promptIds, List<PixelValues> images) {
    if (ExpandedPrompt.imageTokens(promptIds, spec.imageTokenId()) != images.size()) {
      return promptPositions(promptIds);
    }
    long positions = promptIds.length - images.size();
    for (PixelValues image : images) {
      positions +=
          spec.imageMismatch(image, images.size()) == null
              ? spec.imageRows(image)
              : spec.rowsPerImage();
    }
    return (int) Math.min(positions, Integer.MAX_VALUE);
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
   * The prompt the decoder sees: the {@code i}-th image placeholder expanded to the positions image
   * {@code i} fills in this model (a fixed count for llava; by the image's size for llava_next and
   * llava_onevision). Its length is {@link #promptPositions(int[], List)}. No limit is checked.
   *
   * @throws RequestRejectedException on {@code images} when the placeholders and the images differ
   *     in number, or an image was prepared for a prompt with another number of images
   */
  public ExpandedPrompt expand(int[] promptIds, List<PixelValues> images) {
    int placeholders = ExpandedPrompt.imageTokens(promptIds, spec.imageTokenId());
    if (placeholders != images.size()) {
      throw new RequestRejectedException(
          "images",
          placeholders,
          images.size(),
          "images: the prompt has "
              + placeholders
              + " image placeholders but "
              + images.size()
              + " images were given");
    }
    int[] rows = new int[placeholders];
    for (int i = 0; i < rows.length; i++) {
      PixelValues image = images.get(i);
      String mismatch = spec.imageMismatch(image, rows.length);
      if (mismatch != null) {
        throw new RequestRejectedException(
            "images", i, i, "images: image " + i + " has " + mismatch);
      }
      rows[i] = spec.imageRows(image);
    }
    return ExpandedPrompt.expand(promptIds, spec.imageTokenId(), rows);
  }

  /**
   * Checks {@code r} and returns its expanded prompt.
   *
   * @throws RequestRejectedException naming the first field that does not fit
   */
  public ExpandedPrompt validate(GenerationRequest r) {
    ExpandedPrompt prompt = expand(r.promptIds(), r.images());
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
    for (int id : r.sampling().stopTokenIds()) {
      if (id >= vocabSize) {
        throw new RequestRejectedException(
            "stop_token_ids",
            vocabSize - 1,
            id,
            "stop_token_ids: token id " + id + " is outside the vocabulary of " + vocabSize);
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
              + " positions ("
              + imagesCount(prompt)
              + ") leave no room to generate within the context length of "
              + spec.maxModelLen());
    }
    if (positions > maxPromptTokens) {
      throw new RequestRejectedException(
          "prompt",
          maxPromptTokens,
          positions,
          "prompt: the prompt fills "
              + positions
              + " positions ("
              + imagesCount(prompt)
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
    // One choice is bounded by the context (never longer than the pool in a real engine).
    long blocksNeeded = kvBlocksFor(positions, maxTokens, r.n());
    if (r.n() > 1 && blocksNeeded > numBlocks) {
      int fit = 0;
      while (fit < r.n() && kvBlocksFor(positions, maxTokens, fit + 1) <= numBlocks) {
        fit++;
      }
      throw new RequestRejectedException(
          "n",
          fit,
          r.n(),
          "n: "
              + r.n()
              + " choices of up to "
              + maxTokens
              + " tokens after a prompt of "
              + positions
              + " positions need "
              + blocksNeeded
              + " KV blocks and the cache has "
              + numBlocks
              + "; at most "
              + fit
              + " fit");
    }
    return prompt;
  }

  /** How the prompt's images count, for messages: "images count 576 each" or per image. */
  private String imagesCount(ExpandedPrompt prompt) {
    if (spec.anyResolution() == null) {
      return "images count " + spec.rowsPerImage() + " each";
    }
    if (prompt.imageCount() == 0) {
      return "no images";
    }
    StringBuilder b = new StringBuilder("images count");
    for (int i = 0; i < prompt.imageCount(); i++) {
      b.append(i == 0 ? " " : ", ").append(prompt.imageRows(i));
    }
    return b.toString();
  }

  /**
   * KV blocks that {@code n} choices need at most: the full blocks of the prompt once (shared),
   * then each choice's own blocks for the rest of the prompt and its output.
   */
  long kvBlocksFor(int promptPositions, int maxTokens, int n) {
    int shared = (promptPositions - 1) / blockSize;
    long perChoice = ((long) promptPositions + maxTokens + blockSize - 1) / blockSize - shared;
    return shared + n * perChoice;
  }

  /** Whether this validator checks against {@code spec} and {@code vocabSize}. */
  boolean isFor(ModelSpec spec, int vocabSize) {
    return this.spec.equals(spec) && this.vocabSize == vocabSize;
  }
}
