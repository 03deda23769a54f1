package io.llavaserve.batching.kvcache;

/**
 * Prefix-cache counters since the block manager was created.
 *
 * @param queries tokens looked up (the full length of every sequence passed to a lookup)
 * @param hits tokens found in the cache
 * @param evictions cached blocks dropped from the cache to be reused
 */
public record PrefixCacheStats(long queries, long hits, long evictions) {

  public PrefixCacheStats {
    if (queries < 0 || hits < 0 || evictions < 0 || hits > queries) {
      throw new IllegalArgumentException(
          "counters must be >= 0 and hits <= queries: queries="
              + queries
              + ", hits="
              + hits
              + ", evictions="
              + evictions);
    }
  }

  /** Fraction of looked-up tokens that were found, 0 before any lookup. */
  public double hitRate() {
    return queries == 0 ? 0.0 : (double) hits / queries;
  }
}
