package io.llavaserve.batching.kvcache;

import java.util.Objects;

/**
 * What {@link BlockManager#findCachedPrefix} found: the longest run of full blocks at the start of
 * a sequence that the prefix cache holds, confirmed by content, and the positions they cover. A
 * value, like vLLM v1's {@code get_computed_blocks} result: the lookup takes no reference, so the
 * scheduler can look, decide, and only then {@link BlockManager#allocate} with it (before any other
 * allocation, which could evict its blocks; a prefix gone stale is refused there).
 *
 * @param blocks the cached blocks in position order, every one committed
 * @param numTokens positions they cover ({@code blocks.numBlocks() * blockSize}), always fewer than
 *     the sequence's length: its last token is always computed
 */
public record CachedPrefix(BlockTable blocks, int numTokens) {

  /** Nothing cached (or prefix caching off). */
  public static final CachedPrefix NONE = new CachedPrefix(BlockTable.EMPTY, 0);

  public CachedPrefix {
    Objects.requireNonNull(blocks, "blocks");
    if (numTokens < 0 || (numTokens == 0) != blocks.isEmpty()) {
      throw new IllegalArgumentException(
          numTokens + " cached tokens do not fit a prefix of " + blocks.numBlocks() + " blocks");
    }
    if (blocks.numCommittedBlocks() != blocks.numBlocks()) {
      throw new IllegalArgumentException("every block of a cached prefix is committed");
    }
  }

  public boolean isEmpty() {
    return numTokens == 0;
  }
}
