package io.llavaserve.batching.scheduler;

/**
 * One sequence's part of a step: positions {@code [start, start + numTokens)}.
 *
 * @param sequence the sequence
 * @param start first position computed (the sequence's computed count when scheduled)
 * @param numTokens positions computed this step
 */
public record ScheduledChunk(Sequence sequence, int start, int numTokens) {

  public ScheduledChunk {
    if (numTokens < 1) {
      throw new IllegalArgumentException("a scheduled chunk needs at least one token");
    }
  }

  public int end() {
    return start + numTokens;
  }

  /** Whether this chunk reaches the last known position, so a token is sampled after it. */
  public boolean completesSequence() {
    return end() == sequence.length();
  }
}
