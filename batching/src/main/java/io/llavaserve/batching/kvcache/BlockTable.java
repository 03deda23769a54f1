package io.llavaserve.batching.kvcache;

import java.util.Arrays;

/**
 * A sequence's KV allocation: the block ids in position order (position {@code p} lives in block
 * {@code blockId(p / blockSize)} at offset {@code p % blockSize}), plus the prefix-cache
 * bookkeeping the block manager needs. Owned by the sequence, mutated only by the {@link
 * BlockManager}.
 */
public final class BlockTable {

  private int[] ids = new int[4];
  private int size;
  private int numCachedTokens;
  // Leading blocks already hashed and offered to the prefix cache, and the last one's hash: the
  // parent hash of the next block to commit.
  private int numCommittedBlocks;
  private long lastCommittedHash = PrefixHash.ROOT;

  /** Block ids in position order (a copy). */
  public int[] blockIds() {
    return Arrays.copyOf(ids, size);
  }

  public int numBlocks() {
    return size;
  }

  public boolean isEmpty() {
    return size == 0;
  }

  public int blockId(int index) {
    if (index < 0 || index >= size) {
      throw new IndexOutOfBoundsException(
          "block index " + index + " out of range for a table of " + size + " blocks");
    }
    return ids[index];
  }

  /** Tokens found in the prefix cache at the last lookup (for usage reporting). */
  public int numCachedTokens() {
    return numCachedTokens;
  }

  void append(int blockId) {
    if (size == ids.length) {
      ids = Arrays.copyOf(ids, size * 2);
    }
    ids[size++] = blockId;
  }

  void clear() {
    size = 0;
    numCommittedBlocks = 0;
    lastCommittedHash = PrefixHash.ROOT;
  }

  void setNumCachedTokens(int tokens) {
    numCachedTokens = tokens;
  }

  int numCommittedBlocks() {
    return numCommittedBlocks;
  }

  long lastCommittedHash() {
    return lastCommittedHash;
  }

  void markCommitted(long blockHash) {
    numCommittedBlocks++;
    lastCommittedHash = blockHash;
  }

  @Override
  public String toString() {
    return "BlockTable" + Arrays.toString(blockIds());
  }
}
