package io.llavaserve.batching.kvcache;

import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Test support: every invariant of a {@link BlockManager} checked against the tables that hold
 * blocks, throwing {@link IllegalStateException} naming the first one broken. Each block's count
 * equals the number of tables holding it, the free queue holds exactly the blocks with count 0, no
 * table holds a block twice, and every cache entry points to a block whose stored content hashes to
 * its key.
 */
public final class BlockManagerInvariants {

  private BlockManagerInvariants() {}

  /**
   * @param liveTables the latest table of every sequence holding blocks; a table value may appear
   *     once (empty tables, which hold nothing, any number of times)
   */
  public static void check(BlockManager manager, Collection<BlockTable> liveTables) {
    int numBlocks = manager.numBlocks();
    int[] holders = new int[numBlocks];
    Set<BlockTable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    for (BlockTable table : liveTables) {
      if (!table.isEmpty() && !seen.add(table)) {
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
    Map<Long, Integer> cache = manager.cacheEntries();
    for (int id = 0; id < numBlocks; id++) {
      int refCount = manager.refCount(id);
      if (refCount != holders[id]) {
        throw new IllegalStateException(
            "block " + id + " has ref count " + refCount + " but " + holders[id] + " holders");
      }
      if ((refCount == 0) != manager.isFree(id)) {
        throw new IllegalStateException(
            "block "
                + id
                + " with ref count "
                + refCount
                + " is "
                + (manager.isFree(id) ? "" : "not ")
                + "in the free queue");
      }
      if (manager.cachedContent(id) != null) {
        Integer mapped = cache.get(manager.blockHash(id));
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
    if (manager.freeQueueSnapshot().length != manager.numFreeBlocks()) {
      throw new IllegalStateException("free queue size disagrees with its contents");
    }
    for (Map.Entry<Long, Integer> e : cache.entrySet()) {
      int id = e.getValue();
      BlockContent content = manager.cachedContent(id);
      if (content == null || manager.blockHash(id) != e.getKey()) {
        throw new IllegalStateException(
            "cache entry " + e.getKey() + " points to block " + id + " which is not cached there");
      }
      long actual = manager.hasher().hash(manager.parentHash(id), content, 0, manager.blockSize());
      if (actual != e.getKey()) {
        throw new IllegalStateException(
            "cached block " + id + " content hashes to " + actual + ", not its key " + e.getKey());
      }
    }
  }
}
