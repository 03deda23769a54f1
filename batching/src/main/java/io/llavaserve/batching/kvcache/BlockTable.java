package io.llavaserve.batching.kvcache;

import java.util.Arrays;

/**
 * A sequence's KV allocation, as a value: the block ids in position order (position {@code p} lives
 * in block {@code blockId(p / blockSize)} at offset {@code p % blockSize}), plus how far the prefix
 * cache has seen them. Immutable: every {@link BlockManager} allocation and commit returns a new
 * table and the holder of the sequence (the scheduler) keeps the latest, so no class mutates a
 * table another owns, and a table can go to the step or a test without a copy.
 */
public final class BlockTable {

  /** The table of a sequence that holds no blocks (new, preempted or finished). */
  public static final BlockTable EMPTY = new BlockTable(new int[0], 0, PrefixHash.ROOT);

  private final int[] ids;
  // Leading blocks already hashed and offered to the prefix cache, and the last one's hash: the
  // parent hash of the next block to commit.
  private final int numCommittedBlocks;
  private final long lastCommittedHash;

  private BlockTable(int[] ids, int numCommittedBlocks, long lastCommittedHash) {
    this.ids = ids;
    this.numCommittedBlocks = numCommittedBlocks;
    this.lastCommittedHash = lastCommittedHash;
  }

  /** Block ids in position order (a copy). */
  public int[] blockIds() {
    return ids.clone();
  }

  public int numBlocks() {
    return ids.length;
  }

  public boolean isEmpty() {
    return ids.length == 0;
  }

  public int blockId(int index) {
    if (index < 0 || index >= ids.length) {
      throw new IndexOutOfBoundsException(
          "block index " + index + " out of range for a table of " + ids.length + " blocks");
    }
    return ids[index];
  }

  int numCommittedBlocks() {
    return numCommittedBlocks;
  }

  long lastCommittedHash() {
    return lastCommittedHash;
  }

  /** This table followed by {@code more}. */
  BlockTable append(int[] more) {
    if (more.length == 0) {
      return this;
    }
    int[] grown = Arrays.copyOf(ids, ids.length + more.length);
    System.arraycopy(more, 0, grown, ids.length, more.length);
    return new BlockTable(grown, numCommittedBlocks, lastCommittedHash);
  }

  /** This table with its first {@code numBlocks} blocks committed, the last under {@code hash}. */
  BlockTable committed(int numBlocks, long hash) {
    if (numBlocks < numCommittedBlocks || numBlocks > ids.length) {
      throw new IllegalArgumentException(
          "committed blocks "
              + numBlocks
              + " must be in ["
              + numCommittedBlocks
              + ", "
              + ids.length
              + "]");
    }
    return numBlocks == numCommittedBlocks ? this : new BlockTable(ids, numBlocks, hash);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BlockTable t
        && Arrays.equals(ids, t.ids)
        && numCommittedBlocks == t.numCommittedBlocks
        && lastCommittedHash == t.lastCommittedHash;
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(ids) * 31 + numCommittedBlocks;
  }

  @Override
  public String toString() {
    return "BlockTable" + Arrays.toString(ids);
  }
}
