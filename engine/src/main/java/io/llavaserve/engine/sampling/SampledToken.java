package io.llavaserve.engine.sampling;

import java.util.List;

/**
 * The outcome of one sampling step for one sequence.
 *
 * @param tokenId the chosen token
 * @param logprob its log-probability under the raw model logits, or {@code NaN} when the request
 *     asked for no logprobs ({@code logprobs == -1})
 * @param topLogprobs the {@code logprobs} most likely tokens under the raw logits, most likely
 *     first (ties by lower id); empty when {@code logprobs <= 0}
 */
public record SampledToken(int tokenId, float logprob, List<TokenLogprob> topLogprobs) {

  public SampledToken {
    topLogprobs = List.copyOf(topLogprobs);
  }

  /** Whether this step computed log-probabilities. */
  public boolean hasLogprob() {
    return !Float.isNaN(logprob);
  }
}
