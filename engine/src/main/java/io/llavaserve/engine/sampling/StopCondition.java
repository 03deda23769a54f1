package io.llavaserve.engine.sampling;

import java.util.Optional;
import java.util.Set;

/**
 * Decides after each generated token whether a sequence is finished, as vLLM's {@code check_stop}
 * does, except that a stop (EOS, stop token, stop string) on the last allowed token is reported as
 * {@link FinishReason#STOP} rather than {@link FinishReason#LENGTH}: the model did finish on its
 * own.
 */
public final class StopCondition {

  private final int eosTokenId;
  private final boolean ignoreEos;
  private final Set<Integer> stopTokenIds;
  private final int maxTokens;
  private final int maxModelLen;

  /**
   * @param params the request's sampling parameters
   * @param eosTokenId the tokenizer's EOS id, or -1 if it has none
   * @param maxModelLen the model's context length; prompt plus output may not exceed it
   */
  public StopCondition(SamplingParams params, int eosTokenId, int maxModelLen) {
    if (maxModelLen < 1) {
      throw new IllegalArgumentException("max_model_len must be >= 1, got " + maxModelLen);
    }
    this.eosTokenId = eosTokenId;
    this.ignoreEos = params.ignoreEos();
    this.stopTokenIds = params.stopTokenIds();
    this.maxTokens = params.maxTokens();
    this.maxModelLen = maxModelLen;
  }

  /**
   * @param tokenId the token just generated
   * @param numOutputTokens output tokens including this one
   * @param numTokens prompt plus output tokens including this one
   * @param stopStringMatched whether the {@link StopChecker} matched on this token's text
   * @return why the sequence finished, or empty if it goes on
   */
  public Optional<FinishReason> check(
      int tokenId, int numOutputTokens, int numTokens, boolean stopStringMatched) {
    if (isStopToken(tokenId) || stopStringMatched) {
      return Optional.of(FinishReason.STOP);
    }
    if (numOutputTokens >= maxTokens || numTokens >= maxModelLen) {
      return Optional.of(FinishReason.LENGTH);
    }
    return Optional.empty();
  }

  /** Whether this token ends the sequence as EOS or a stop token, so its text is not emitted. */
  public boolean isStopToken(int tokenId) {
    return (tokenId == eosTokenId && !ignoreEos) || stopTokenIds.contains(tokenId);
  }
}
