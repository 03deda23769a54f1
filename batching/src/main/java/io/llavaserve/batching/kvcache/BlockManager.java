package io.llavaserve.batching.kvcache;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hands out KV-cache blocks to sequences and shares full blocks between sequences with the same
 * prefix (after vLLM v1's KVCacheManager and nano-vllm's BlockManager).
 *
 * <p>Every block has a reference count: the number of block tables holding it. A cached block in
 * use by several sequences is shared, never copied. Blocks with count 0 wait in one LRU free queue
 * ordered by the time they were freed; a freed block that was cached keeps its hash and content, so
 * it can still be hit (which takes it back out of the queue) until allocation takes it from the
 * head of the queue and evicts it.
 *
 * <p>Owned by the engine thread: not thread-safe, and needs no locks.
 */
public final class BlockManager {

  private final int numBlocks;
  private final int blockSize;
  private final boolean enablePrefixCaching;
  private final BlockHashFunction hasher;

  private final int[] refCount;
  private final FreeBlockQueue freeQueue;
  // A block is cached iff content[id] != null; then blockHash and parentHash describe it and
  // cachedBlocks maps blockHash[id] to id.
  private final BlockContent[] content;
  private final long[] blockHash;
  private final long[] parentHash;
  private final Map<Long, Integer> cachedBlocks = new HashMap<>();

  private long queries;
  private long hits;
  private long evictions;

  public BlockManager(int numBlocks, int blockSize, boolean enablePrefixCaching) {
    this(numBlocks, blockSize, enablePrefixCaching, PrefixHash::of);
  }

  /** With a given hash function, so tests can force collisions. */
  BlockManager(
      int numBlocks, int blockSize, boolean enablePrefixCaching, BlockHashFunction hasher) {
    if (numBlocks < 1) {
      throw new IllegalArgumentException("numBlocks must be >= 1, got " + numBlocks);
    }
    if (blockSize < 1) {
      throw new IllegalArgumentException("blockSize must be >= 1, got " + blockSize);
    }
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    this.enablePrefixCaching = enablePrefixCaching;
    this.hasher = hasher;
    this.refCount = new int[numBlocks];
    this.freeQueue = new FreeBlockQueue(numBlocks);
    this.content = new BlockContent[numBlocks];
    this.blockHash = new long[numBlocks];
    this.parentHash = new long[numBlocks];
  }

  public int blockSize() {
    return blockSize;
  }

  public int numBlocks() {
    return numBlocks;
  }

  /** Blocks no sequence holds, including cached blocks that can still be hit until evicted. */
  public int numFreeBlocks() {
    return freeQueue.size();
  }

  public int numUsedBlocks() {
    return numBlocks - freeQueue.size();
  }

  /**
   * Looks up the longest run of full blocks at the start of {@code tokens} that are in the prefix
   * cache, confirmed by content (not hash alone), takes a reference on each, appends them to {@code
   * table} (which must be empty) and returns the number of tokens they cover. Never covers the
   * whole sequence: at most {@code length - 1} tokens rounded down to a block boundary, so the last
   * token is always computed. Counts the sequence's length as queried tokens and the covered tokens
   * as hits.
   */
  public int allocateCachedPrefix(BlockTable table, TokenSource tokens) {
    if (!table.isEmpty()) {
      throw new IllegalArgumentException(
          "allocateCachedPrefix needs an empty block table, got " + table.numBlocks() + " blocks");
    }
    table.setNumCachedTokens(0);
    if (!enablePrefixCaching) {
      return 0;
    }
    int length = tokens.length();
    int maxBlocks = Math.max(0, length - 1) / blockSize;
    List<Integer> found = new ArrayList<>();
    List<Long> foundHashes = new ArrayList<>();
    long parent = PrefixHash.ROOT;
    for (int i = 0; i < maxBlocks; i++) {
      long h = hasher.hash(parent, tokens, i * blockSize, blockSize);
      Integer id = cachedBlocks.get(h);
      if (id == null || parentHash[id] != parent || !content[id].matches(tokens, i * blockSize)) {
        break;
      }
      found.add(id);
      foundHashes.add(h);
      parent = h;
    }
    for (int i = 0; i < found.size(); i++) {
      int id = found.get(i);
      if (refCount[id] == 0) {
        freeQueue.remove(id);
      }
      refCount[id]++;
      table.append(id);
      table.markCommitted(foundHashes.get(i));
    }
    int covered = found.size() * blockSize;
    table.setNumCachedTokens(covered);
    queries += length;
    hits += covered;
    return covered;
  }

  /** Number of extra blocks {@code table} would need to cover {@code numTokens} positions. */
  public int blocksNeeded(BlockTable table, int numTokens) {
    checkTokenCount(numTokens);
    int blocks = (numTokens + blockSize - 1) / blockSize;
    return Math.max(0, blocks - table.numBlocks());
  }

  /**
   * Grows {@code table} so it covers {@code numTokens} positions, taking the least recently freed
   * blocks (evicting them from the prefix cache if cached). All or nothing: returns false and
   * changes nothing when there are not enough free blocks.
   */
  public boolean allocateSlots(BlockTable table, int numTokens) {
    int needed = blocksNeeded(table, numTokens);
    if (needed > freeQueue.size()) {
      return false;
    }
    for (int i = 0; i < needed; i++) {
      int id = freeQueue.popFirst();
      if (content[id] != null) {
        uncache(id);
        evictions++;
      }
      refCount[id] = 1;
      table.append(id);
    }
    return true;
  }

  /**
   * Called after a step has written K/V for positions {@code [0, numComputedTokens)}: registers
   * every newly full block in the prefix cache under its chained hash, with its content for
   * confirmation. Blocks already registered are skipped; if an equal block is already cached the
   * existing entry stays (and so does a different block whose hash collides: this one then just
   * isn't cached).
   */
  public void commit(BlockTable table, TokenSource tokens, int numComputedTokens) {
    if (numComputedTokens < 0
        || numComputedTokens > tokens.length()
        || numComputedTokens > table.numBlocks() * blockSize) {
      throw new IllegalArgumentException(
          "numComputedTokens "
              + numComputedTokens
              + " must be in [0, min(sequence length "
              + tokens.length()
              + ", table capacity "
              + table.numBlocks() * blockSize
              + ")]");
    }
    if (!enablePrefixCaching) {
      return;
    }
    int fullBlocks = numComputedTokens / blockSize;
    for (int i = table.numCommittedBlocks(); i < fullBlocks; i++) {
      long parent = table.lastCommittedHash();
      long h = hasher.hash(parent, tokens, i * blockSize, blockSize);
      int id = table.blockId(i);
      if (!cachedBlocks.containsKey(h) && content[id] == null) {
        content[id] = BlockContent.of(tokens, i * blockSize, blockSize);
        blockHash[id] = h;
        parentHash[id] = parent;
        cachedBlocks.put(h, id);
      }
      table.markCommitted(h);
    }
  }

  /**
   * Drops the table's references, tail first so that a sequence's last blocks are evicted first,
   * and empties the table. Blocks whose count reaches 0 join the free queue, cached ones keeping
   * their content. Freeing an empty table does nothing.
   */
  public void free(BlockTable table) {
    for (int i = table.numBlocks() - 1; i >= 0; i--) {
      int id = table.blockId(i);
      if (refCount[id] <= 0) {
        throw new IllegalStateException(
            "double free: block " + id + " of " + table + " has no references left");
      }
    }
    for (int i = table.numBlocks() - 1; i >= 0; i--) {
      int id = table.blockId(i);
      if (--refCount[id] == 0) {
        freeQueue.addLast(id);
      }
    }
    table.clear();
  }

  public PrefixCacheStats stats() {
    return new PrefixCacheStats(queries, hits, evictions);
  }

  /**
   * Checks every invariant against the tables that hold blocks and throws {@link
   * IllegalStateException} naming the first one broken: each block's count equals the number of
   * tables holding it, the free queue holds exactly the blocks with count 0, no table holds a block
   * twice, and every cache entry points to a block whose stored content hashes to its key.
   */
  public void checkInvariants(Collection<BlockTable> liveTables) {
    int[] holders = new int[numBlocks];
    Map<BlockTable, Boolean> seen = new IdentityHashMap<>();
    for (BlockTable table : liveTables) {
      if (seen.put(table, Boolean.TRUE) != null) {
        throw new IllegalStateException("table listed twice: " + table);
      }
      if (table.numCommittedBlocks() > table.numBlocks()) {
        throw new IllegalStateException("table commits more blocks than it holds: " + table);
      }
      boolean[] inTable = new boolean[numBlocks];
      for (int id : table.blockIds()) {
        if (id < 0 || id >= numBlocks) {
          throw new IllegalStateException("table holds unknown block " + id + ": " + table);
        }
        if (inTable[id]) {
          throw new IllegalStateException("table holds block " + id + " twice: " + table);
        }
        inTable[id] = true;
        holders[id]++;
      }
    }
    for (int id = 0; id < numBlocks; id++) {
      if (refCount[id] != holders[id]) {
        throw new IllegalStateException(
            "block " + id + " has ref count " + refCount[id] + " but " + holders[id] + " holders");
      }
      if ((refCount[id] == 0) != freeQueue.contains(id)) {
        throw new IllegalStateException(
            "block "
                + id
                + " with ref count "
                + refCount[id]
                + " is "
                + (freeQueue.contains(id) ? "" : "not ")
                + "in the free queue");
      }
      if (content[id] != null) {
        Integer mapped = cachedBlocks.get(blockHash[id]);
        if (mapped == null || mapped != id) {
          throw new IllegalStateException(
              "cached block "
                  + id
                  + " is not the cache entry for its hash (entry: "
                  + mapped
                  + ")");
        }
      }
    }
    int[] queued = freeQueue.toArray();
    if (queued.length != freeQueue.size()) {
      throw new IllegalStateException("free queue size disagrees with its contents");
    }
    for (Map.Entry<Long, Integer> e : cachedBlocks.entrySet()) {
      int id = e.getValue();
      if (content[id] == null || blockHash[id] != e.getKey()) {
        throw new IllegalStateException(
            "cache entry " + e.getKey() + " points to block " + id + " which is not cached there");
      }
      long actual = hasher.hash(parentHash[id], content[id], 0, blockSize);
      if (actual != e.getKey()) {
        throw new IllegalStateException(
            "cached block " + id + " content hashes to " + actual + ", not its key " + e.getKey());
      }
    }
  }

  private void checkTokenCount(int numTokens) {
    if (numTokens < 0 || numTokens > numBlocks * blockSize) {
      throw new IllegalArgumentException(
          "numTokens "
              + numTokens
              + " is outside what the pool could ever hold: [0, "
              + numBlocks * blockSize
              + "] ("
              + numBlocks
              + " blocks of "
              + blockSize
              + ")");
    }
  }

  private void uncache(int id) {
    cachedBlocks.remove(blockHash[id]);
    content[id] = null;
    blockHash[id] = 0;
    parentHash[id] = 0;
  }
}
