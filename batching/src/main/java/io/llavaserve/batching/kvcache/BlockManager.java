package io.llavaserve.batching.kvcache;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Hands out KV-cache blocks to sequences and shares full blocks between sequences with the same
 * prefix (after vLLM v1's KVCacheManager and nano-vllm's BlockManager).
 *
 * <p>Every block has a reference count: the number of block tables holding it. A cached block in
 * use by several sequences is shared, never copied. Blocks with count 0 wait in one LRU free queue
 * ordered by the time they were freed; a freed block that was cached keeps its hash and content, so
 * it can still be hit (admitting a sequence with it takes it back out of the queue) until an
 * allocation takes it from the head of the queue and evicts it.
 *
 * <p>Its seam with the scheduler is typed, as in vLLM v1's KVCacheManager: a lookup returns a
 * {@link CachedPrefix}, an allocation an optional {@link BlockTable} (empty when the pool is too
 * short), a commit the table with its new blocks marked; the manager owns reference counts and the
 * cache, the scheduler keeps each sequence's latest table.
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
   * Finds the longest run of full blocks at the start of {@code tokens} that are in the prefix
   * cache, confirmed by content (not hash alone). Never covers the whole sequence: at most {@code
   * length - 1} tokens rounded down to a block boundary, so the last token is always computed.
   * Takes no reference (hand the result to {@link #allocate}); counts the sequence's length as
   * queried tokens and the covered tokens as hits.
   */
  public CachedPrefix findCachedPrefix(TokenSource tokens) {
    if (!enablePrefixCaching) {
      return CachedPrefix.NONE;
    }
    int length = tokens.length();
    int maxBlocks = Math.max(0, length - 1) / blockSize;
    int[] found = new int[maxBlocks];
    int numFound = 0;
    long parent = PrefixHash.ROOT;
    for (int i = 0; i < maxBlocks; i++) {
      long h = hasher.hash(parent, tokens, i * blockSize, blockSize);
      Integer id = cachedBlocks.get(h);
      if (id == null || parentHash[id] != parent || !content[id].matches(tokens, i * blockSize)) {
        break;
      }
      found[numFound++] = id;
      parent = h;
    }
    int covered = numFound * blockSize;
    queries += length;
    hits += covered;
    if (numFound == 0) {
      return CachedPrefix.NONE;
    }
    BlockTable blocks = BlockTable.EMPTY.append(Arrays.copyOf(found, numFound));
    return new CachedPrefix(blocks.committed(numFound, parent), covered);
  }

  /** Number of extra blocks {@code table} would need to cover {@code numTokens} positions. */
  public int blocksNeeded(BlockTable table, int numTokens) {
    checkTokenCount(numTokens);
    int blocks = (numTokens + blockSize - 1) / blockSize;
    return Math.max(0, blocks - table.numBlocks());
  }

  /**
   * Admits a sequence: a table of the {@code prefix}'s blocks (a reference taken on each, which
   * takes freed ones back out of the free queue) followed by fresh blocks up to {@code numTokens}
   * positions. All or nothing: empty, and nothing changed, when the free blocks not in the prefix
   * are too few.
   *
   * @throws IllegalStateException when a block of {@code prefix} was evicted since it was found
   */
  public Optional<BlockTable> allocate(CachedPrefix prefix, int numTokens) {
    if (numTokens < prefix.numTokens()) {
      throw new IllegalArgumentException(
          "numTokens " + numTokens + " is less than the cached prefix of " + prefix.numTokens());
    }
    BlockTable held = prefix.blocks();
    checkStillCached(held);
    int revived = 0;
    for (int i = 0; i < held.numBlocks(); i++) {
      revived += refCount[held.blockId(i)] == 0 ? 1 : 0;
    }
    int needed = blocksNeeded(held, numTokens);
    if (needed > freeQueue.size() - revived) {
      return Optional.empty();
    }
    for (int i = 0; i < held.numBlocks(); i++) {
      int id = held.blockId(i);
      if (refCount[id]++ == 0) {
        freeQueue.remove(id);
      }
    }
    return Optional.of(held.append(take(needed)));
  }

  /**
   * Admits a sibling of a held sequence (one of the {@code n} choices of a request): a new table
   * that shares the first {@code sharedBlocks} blocks of {@code source} (a reference taken on each;
   * they are full and hold the same prompt in both) followed by fresh blocks up to {@code
   * numTokens} positions. The sibling's last, partial prompt block is its own, so its writes never
   * touch the source's: copy on write, done by recomputing those few positions instead of copying
   * device memory. Works with prefix caching on or off. All or nothing: empty, and nothing changed,
   * when the free blocks are too few.
   */
  public Optional<BlockTable> fork(BlockTable source, int sharedBlocks, int numTokens) {
    if (sharedBlocks < 0 || sharedBlocks > source.numBlocks()) {
      throw new IllegalArgumentException(
          "shared blocks " + sharedBlocks + " outside [0, " + source.numBlocks() + "]");
    }
    if (numTokens < sharedBlocks * blockSize) {
      throw new IllegalArgumentException(
          "numTokens " + numTokens + " is less than the " + sharedBlocks + " shared blocks hold");
    }
    int[] shared = Arrays.copyOf(source.blockIds(), sharedBlocks);
    BlockTable held = BlockTable.EMPTY.append(shared);
    int needed = blocksNeeded(held, numTokens);
    if (needed > freeQueue.size()) {
      return Optional.empty();
    }
    for (int id : shared) {
      if (refCount[id] <= 0) {
        throw new IllegalStateException("fork of block " + id + ", which no table holds");
      }
      refCount[id]++;
    }
    // Committed from block 0 again: the next commit re-hashes the shared blocks (found cached,
    // left as they are) and continues the chain into the sibling's own blocks.
    return Optional.of(held.append(take(needed)));
  }

  /**
   * Grows a held {@code table} so it covers {@code numTokens} positions, taking the least recently
   * freed blocks (evicting them from the prefix cache if cached). All or nothing: empty, and
   * nothing changed, when there are not enough free blocks.
   */
  public Optional<BlockTable> allocateSlots(BlockTable table, int numTokens) {
    int needed = blocksNeeded(table, numTokens);
    if (needed > freeQueue.size()) {
      return Optional.empty();
    }
    return Optional.of(table.append(take(needed)));
  }

  /**
   * Called after a step has written K/V for positions {@code [0, numComputedTokens)}: registers
   * every newly full block of {@code table} in the prefix cache under its chained hash, with its
   * content for confirmation, and returns the table with those blocks marked committed. Blocks
   * already committed are skipped; if an equal block is already cached the existing entry stays
   * (and so does a different block whose hash collides: this one then just isn't cached).
   */
  public BlockTable commit(BlockTable table, TokenSource tokens, int numComputedTokens) {
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
    int fullBlocks = numComputedTokens / blockSize;
    if (!enablePrefixCaching || fullBlocks <= table.numCommittedBlocks()) {
      return table;
    }
    long parent = table.lastCommittedHash();
    for (int i = table.numCommittedBlocks(); i < fullBlocks; i++) {
      long h = hasher.hash(parent, tokens, i * blockSize, blockSize);
      int id = table.blockId(i);
      if (!cachedBlocks.containsKey(h) && content[id] == null) {
        content[id] = BlockContent.of(tokens, i * blockSize, blockSize);
        blockHash[id] = h;
        parentHash[id] = parent;
        cachedBlocks.put(h, id);
      }
      parent = h;
    }
    return table.committed(fullBlocks, parent);
  }

  /**
   * Drops the references of {@code table}, tail first so that a sequence's last blocks are evicted
   * first; its holder then holds {@link BlockTable#EMPTY}. Blocks whose count reaches 0 join the
   * free queue, cached ones keeping their content. Freeing an empty table does nothing.
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
  }

  public PrefixCacheStats stats() {
    return new PrefixCacheStats(queries, hits, evictions);
  }

  // ---- read by the invariant checks of the tests (same package) ----

  int refCount(int id) {
    return refCount[id];
  }

  boolean isFree(int id) {
    return freeQueue.contains(id);
  }

  int[] freeQueueSnapshot() {
    return freeQueue.toArray();
  }

  /** The content cached in block {@code id}, or null when the block is not cached. */
  BlockContent cachedContent(int id) {
    return content[id];
  }

  long blockHash(int id) {
    return blockHash[id];
  }

  long parentHash(int id) {
    return parentHash[id];
  }

  Map<Long, Integer> cacheEntries() {
    return Collections.unmodifiableMap(cachedBlocks);
  }

  BlockHashFunction hasher() {
    return hasher;
  }

  /** Takes {@code n} blocks from the head of the free queue, evicting cached ones. */
  private int[] take(int n) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      int id = freeQueue.popFirst();
      if (content[id] != null) {
        uncache(id);
        evictions++;
      }
      refCount[id] = 1;
      ids[i] = id;
    }
    return ids;
  }

  /** Each block of a found prefix must still be cached under the chain it was found with. */
  private void checkStillCached(BlockTable prefix) {
    long parent = PrefixHash.ROOT;
    for (int i = 0; i < prefix.numBlocks(); i++) {
      int id = prefix.blockId(i);
      if (content[id] == null || parentHash[id] != parent) {
        throw new IllegalStateException(
            "stale prefix: block " + id + " of " + prefix + " was evicted since it was found");
      }
      parent = blockHash[id];
    }
    if (!prefix.isEmpty() && parent != prefix.lastCommittedHash()) {
      throw new IllegalStateException(
          "stale prefix: the last block of " + prefix + " now caches another prefix");
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
