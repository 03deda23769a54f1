package io.llavaserve.batching.scheduler;

/**
 * Limits of one engine step and of the waiting queue.
 *
 * @param maxNumBatchedTokens new tokens per step, across all sequences (decode tokens count one)
 * @param maxNumSeqs sequences per step
 * @param maxWaitingRequests requests waiting to be admitted; beyond it submit is refused
 * @param maxWaitingTokens prompt positions waiting to be admitted; beyond it submit is refused
 * @param maxBacklog events a consumer may leave untaken before its sequence stops decoding
 */
public record SchedulerConfig(
    int maxNumBatchedTokens,
    int maxNumSeqs,
    int maxWaitingRequests,
    long maxWaitingTokens,
    int maxBacklog) {

  public SchedulerConfig {
    if (maxNumBatchedTokens < 1) {
      throw new IllegalArgumentException("max_num_batched_tokens must be >= 1");
    }
    if (maxNumSeqs < 1) {
      throw new IllegalArgumentException("max_num_seqs must be >= 1");
    }
    if (maxWaitingRequests < 1 || maxWaitingTokens < 1) {
      throw new IllegalArgumentException("waiting limits must be >= 1");
    }
    if (maxBacklog < 1) {
      throw new IllegalArgumentException("max_backlog must be >= 1");
    }
  }

  public static SchedulerConfig defaults() {
    return new SchedulerConfig(2048, 64, 1024, 1L << 20, 64);
  }

  public SchedulerConfig withMaxNumBatchedTokens(int n) {
    return new SchedulerConfig(n, maxNumSeqs, maxWaitingRequests, maxWaitingTokens, maxBacklog);
  }

  public SchedulerConfig withMaxNumSeqs(int n) {
    return new SchedulerConfig(
        maxNumBatchedTokens, n, maxWaitingRequests, maxWaitingTokens, maxBacklog);
  }

  public SchedulerConfig withWaitingLimits(int requests, long tokens) {
    return new SchedulerConfig(maxNumBatchedTokens, maxNumSeqs, requests, tokens, maxBacklog);
  }

  public SchedulerConfig withMaxBacklog(int n) {
    return new SchedulerConfig(
        maxNumBatchedTokens, maxNumSeqs, maxWaitingRequests, maxWaitingTokens, n);
  }
}
