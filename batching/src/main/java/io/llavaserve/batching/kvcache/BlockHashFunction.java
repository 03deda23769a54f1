package io.llavaserve.batching.kvcache;

/**
 * How the block manager hashes a block: {@link PrefixHash#of} in production; tests substitute a
 * weak function to force collisions and check that hits are confirmed by content.
 */
@FunctionalInterface
interface BlockHashFunction {
  long hash(long parentHash, TokenSource tokens, int start, int length);
}
