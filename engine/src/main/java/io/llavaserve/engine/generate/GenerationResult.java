package io.llavaserve.engine.generate;

import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SampledToken;
import java.util.List;

/**
 * What one {@link Generator#generate} call produced, with its timings.
 *
 * @param text the emitted answer (stop strings and EOS excluded)
 * @param tokens the sampled tokens, with logprobs when asked for
 * @param finishReason why generation stopped
 * @param promptTokens positions of the expanded prompt (image rows included)
 * @param visionNanos time in the vision tower and projector
 * @param prefillNanos time to compute the prompt (and sample the first token)
 * @param decodeNanos time for the remaining tokens
 */
public record GenerationResult(
    String text,
    List<SampledToken> tokens,
    FinishReason finishReason,
    int promptTokens,
    long visionNanos,
    long prefillNanos,
    long decodeNanos) {

  public GenerationResult {
    tokens = List.copyOf(tokens);
  }

  public double prefillTokensPerSecond() {
    return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
  }

  /** Tokens after the first, per second of decoding. */
  public double decodeTokensPerSecond() {
    int n = tokens.size() - 1;
    return n <= 0 || decodeNanos == 0 ? 0 : n * 1e9 / decodeNanos;
  }
}
