package io.llavaserve.batching.engine;

/**
 * A snapshot of the engine, published after every step; reading it never stops the loop.
 *
 * @param running sequences admitted and not finished
 * @param waiting sequences waiting for admission (new or preempted)
 * @param kvBlocksUsed KV blocks referenced by live sequences
 * @param kvBlocksTotal KV blocks in the pool
 * @param prefixQueryTokens prompt positions looked up in the prefix cache
 * @param prefixHitTokens positions found there
 * @param imageCacheHits images whose features came from the cache
 * @param imageCacheMisses images that needed the vision tower
 * @param preemptions sequences preempted so far
 * @param steps engine steps run
 * @param lastStepNanos duration of the last step
 * @param lastStepTokens tokens computed in the last step
 * @param promptTokensComputed prompt and recompute positions computed so far
 * @param tokensGenerated tokens sampled so far
 * @param requestsFinished requests finished so far, any reason
 */
public record EngineStats(
    int running,
    int waiting,
    int kvBlocksUsed,
    int kvBlocksTotal,
    long prefixQueryTokens,
    long prefixHitTokens,
    long imageCacheHits,
    long imageCacheMisses,
    long preemptions,
    long steps,
    long lastStepNanos,
    int lastStepTokens,
    long promptTokensComputed,
    long tokensGenerated,
    long requestsFinished) {

  static EngineStats empty(int kvBlocksTotal) {
    return new EngineStats(0, 0, 0, kvBlocksTotal, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  public double kvUsage() {
    return kvBlocksTotal == 0 ? 0 : (double) kvBlocksUsed / kvBlocksTotal;
  }

  public double prefixHitRate() {
    return prefixQueryTokens == 0 ? 0 : (double) prefixHitTokens / prefixQueryTokens;
  }
}
