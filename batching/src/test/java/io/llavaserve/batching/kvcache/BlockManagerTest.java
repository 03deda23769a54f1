package io.llavaserve.batching.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BlockManagerTest {

  private BlockManager manager;
  private final List<Held> live = new ArrayList<>();

  /**
   * What the scheduler keeps of a sequence: its latest table (the manager returns a new one from
   * every allocation and commit) and the tokens its last admission found cached.
   */
  private static final class Held {
    BlockTable table = BlockTable.EMPTY;
    int cachedTokens;

    int[] blockIds() {
      return table.blockIds();
    }

    int blockId(int index) {
      return table.blockId(index);
    }

    int numBlocks() {
      return table.numBlocks();
    }

    boolean isEmpty() {
      return table.isEmpty();
    }

    int numCachedTokens() {
      return cachedTokens;
    }

    @Override
    public String toString() {
      return table.toString();
    }
  }

  @AfterEach
  void invariantsHoldAtTheEnd() {
    if (manager != null) {
      check();
    }
  }

  private void check() {
    BlockManagerInvariants.check(manager, live.stream().map(h -> h.table).toList());
  }

  /**
   * Runs {@code seq} as one prefill: prefix lookup, a table of the cached blocks and slots for the
   * rest, commit. Returns hits.
   */
  private int prefill(Held held, TokenSource seq) {
    assertTrue(held.isEmpty(), "a prefill starts from no blocks");
    CachedPrefix prefix = manager.findCachedPrefix(seq);
    held.table =
        manager
            .allocate(prefix, seq.length())
            .orElseThrow(() -> new AssertionError("slots for " + seq));
    held.cachedTokens = prefix.numTokens();
    held.table = manager.commit(held.table, seq, seq.length());
    if (!live.contains(held)) {
      live.add(held);
    }
    check();
    return prefix.numTokens();
  }

  /** Admits {@code seq} with only its cached prefix, as the old lookup did. Returns hits. */
  private int hold(Held held, TokenSource seq) {
    CachedPrefix prefix = manager.findCachedPrefix(seq);
    held.table = manager.allocate(prefix, prefix.numTokens()).orElseThrow();
    held.cachedTokens = prefix.numTokens();
    return prefix.numTokens();
  }

  /**
   * Grows {@code held} to {@code numTokens} positions; false (and unchanged) when blocks ran out.
   */
  private boolean slots(Held held, int numTokens) {
    Optional<BlockTable> grown = manager.allocateSlots(held.table, numTokens);
    grown.ifPresent(t -> held.table = t);
    return grown.isPresent();
  }

  private void commit(Held held, TokenSource seq, int numComputedTokens) {
    held.table = manager.commit(held.table, seq, numComputedTokens);
  }

  private void free(Held held) {
    manager.free(held.table);
    held.table = BlockTable.EMPTY;
    live.remove(held);
    check();
  }

  private static TestSequence range(int from, int to) {
    return TestSequence.text(IntStream.range(from, to).toArray());
  }

  @Test
  void newManagerHasEveryBlockFree() {
    manager = new BlockManager(8, 4, true);
    assertEquals(8, manager.numBlocks());
    assertEquals(4, manager.blockSize());
    assertEquals(8, manager.numFreeBlocks());
    assertEquals(0, manager.numUsedBlocks());
    assertEquals(new PrefixCacheStats(0, 0, 0), manager.stats());
  }

  @Test
  void rejectsAnEmptyPool() {
    assertThrows(IllegalArgumentException.class, () -> new BlockManager(0, 4, true));
    assertThrows(IllegalArgumentException.class, () -> new BlockManager(4, 0, true));
  }

  @Test
  void allocateSlotsRoundsUpToWholeBlocksAndGrowsATable() {
    manager = new BlockManager(8, 4, true);
    Held t = new Held();
    live.add(t);
    assertEquals(0, manager.blocksNeeded(t.table, 0));
    assertEquals(1, manager.blocksNeeded(t.table, 1));
    assertEquals(1, manager.blocksNeeded(t.table, 4));
    assertEquals(2, manager.blocksNeeded(t.table, 5));
    assertTrue(slots(t, 0));
    assertEquals(0, t.numBlocks());
    assertTrue(slots(t, 4));
    assertEquals(1, t.numBlocks());
    assertEquals(0, manager.blocksNeeded(t.table, 4));
    assertEquals(1, manager.blocksNeeded(t.table, 5));
    assertTrue(slots(t, 5));
    assertTrue(slots(t, 3)); // already covered
    assertEquals(2, t.numBlocks());
    assertArrayEquals(new int[] {0, 1}, t.blockIds());
    assertEquals(1, t.blockId(1));
    assertEquals(6, manager.numFreeBlocks());
    assertEquals(2, manager.numUsedBlocks());
    assertThrows(IndexOutOfBoundsException.class, () -> t.blockId(2));
  }

  @Test
  void allocateSlotsIsAllOrNothing() {
    manager = new BlockManager(4, 4, true);
    Held a = new Held();
    Held b = new Held();
    live.add(a);
    live.add(b);
    assertTrue(slots(a, 8));
    assertTrue(slots(b, 1));
    assertFalse(slots(b, 12)); // needs 2 more, 1 free
    assertEquals(1, b.numBlocks());
    assertEquals(1, manager.numFreeBlocks());
    assertTrue(slots(b, 8));
    assertEquals(0, manager.numFreeBlocks());
  }

  @Test
  void rejectsTokenCountsThePoolCouldNeverHold() {
    manager = new BlockManager(3, 4, true);
    Held t = new Held();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> slots(t, 13));
    assertTrue(e.getMessage().contains("13"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> slots(t, -1));
    assertThrows(IllegalArgumentException.class, () -> manager.blocksNeeded(t.table, 13));
    assertTrue(slots(t, 12));
    live.add(t);
  }

  @Test
  void aPrefixWhoseBlocksWereEvictedSinceTheLookupIsRefused() {
    manager = new BlockManager(4, 4, true);
    prefill(new Held(), range(0, 9)); // 3 blocks, 2 cached
    free(live.get(0));
    CachedPrefix prefix = manager.findCachedPrefix(range(0, 9));
    assertEquals(8, prefix.numTokens());
    Held all = new Held();
    live.add(all);
    assertTrue(slots(all, 16)); // takes every free block, evicting the prefix's
    assertThrows(IllegalStateException.class, () -> manager.allocate(prefix, 9));
  }

  @Test
  void anAdmissionCountsTheFreedPrefixBlocksItRevivesAgainstThePool() {
    manager = new BlockManager(4, 4, true);
    prefill(new Held(), range(0, 9)); // blocks 0, 1 cached, 2 partial
    free(live.get(0));
    Held other = new Held();
    live.add(other);
    assertTrue(slots(other, 4)); // the never-used block 3
    CachedPrefix prefix = manager.findCachedPrefix(range(0, 16));
    assertEquals(8, prefix.numTokens());
    // 3 free blocks, 2 of them the prefix's: room for 1 more, not 2.
    assertTrue(manager.allocate(prefix, 16).isEmpty());
    assertEquals(3, manager.numFreeBlocks());
    check();
    Held admitted = new Held();
    admitted.table = manager.allocate(prefix, 12).orElseThrow();
    live.add(admitted);
    assertEquals(3, admitted.numBlocks());
    assertArrayEquals(prefix.blocks().blockIds(), Arrays.copyOf(admitted.blockIds(), 2));
    assertEquals(0, manager.numFreeBlocks());
  }

  @Test
  void aLookupTakesNoReference() {
    manager = new BlockManager(4, 4, true);
    prefill(new Held(), range(0, 9));
    free(live.get(0));
    assertEquals(8, manager.findCachedPrefix(range(0, 9)).numTokens());
    assertEquals(4, manager.numFreeBlocks());
    assertEquals(CachedPrefix.NONE, manager.findCachedPrefix(range(50, 59)));
  }

  @Test
  void aOneBlockPromptNeverHitsBecauseItsLastTokenIsComputed() {
    manager = new BlockManager(8, 4, true);
    TestSequence oneBlock = range(0, 4);
    Held a = new Held();
    assertEquals(0, prefill(a, oneBlock));
    free(a);
    Held b = new Held();
    assertEquals(0, prefill(b, oneBlock));
    assertEquals(0, b.numCachedTokens());
    Held c = new Held();
    assertEquals(4, prefill(c, range(0, 5)));
    assertEquals(4, c.numCachedTokens());
  }

  @Test
  void aSecondSequenceSharesTheTwoBlockPrefixUpToTheLastTokenRule() {
    manager = new BlockManager(16, 4, true);
    TestSequence twoBlocks = range(0, 8);
    Held a = new Held();
    prefill(a, twoBlocks);

    // Same 8 tokens: at most 7 may be cached, rounded down to one block.
    Held same = new Held();
    assertEquals(4, prefill(same, twoBlocks));
    assertEquals(a.blockId(0), same.blockId(0));
    assertNotEquals(a.blockId(1), same.blockId(1));

    // One more token: both blocks are shared.
    Held longer = new Held();
    assertEquals(8, prefill(longer, range(0, 9)));
    assertEquals(a.blockId(0), longer.blockId(0));
    assertEquals(a.blockId(1), longer.blockId(1));
    assertEquals(3, longer.numBlocks());

    // Diverging in the second block: only the first is shared.
    Held diverging = new Held();
    assertEquals(4, prefill(diverging, TestSequence.text(0, 1, 2, 3, 4, 5, 99, 7, 8)));

    // a: 2, same: 1 new, longer: 1 new, diverging: 2 new.
    assertEquals(6, manager.numUsedBlocks());
    assertEquals(new PrefixCacheStats(8 + 8 + 9 + 9, 4 + 8 + 4, 0), manager.stats());
  }

  @Test
  void blockSizeOne() {
    manager = new BlockManager(16, 1, true);
    prefill(new Held(), TestSequence.text(1, 2, 3));
    assertEquals(2, prefill(new Held(), TestSequence.text(1, 2, 3)));
    assertEquals(3, prefill(new Held(), TestSequence.text(1, 2, 3, 4)));
    assertEquals(2, prefill(new Held(), TestSequence.text(1, 2, 9)));
    assertEquals(1, prefill(new Held(), TestSequence.text(1, 9)));
    assertEquals(0, prefill(new Held(), TestSequence.text(9)));
    assertEquals(0, prefill(new Held(), TestSequence.text(1)));
  }

  @Test
  void emptySequenceLooksUpNothing() {
    manager = new BlockManager(4, 4, true);
    assertEquals(0, hold(new Held(), TestSequence.text()));
  }

  @Test
  void identicalTokenIdsWithDifferentImagesDoNotShareImageBlocks() {
    manager = new BlockManager(32, 4, true);
    // [text block][image rows 0-3][image rows 4-7][text 2 tokens]
    TestSequence catImage =
        TestSequence.builder().text(1, 2, 3, 4).image("cat", 8).text(5, 6).build();
    TestSequence dogImage =
        TestSequence.builder().text(1, 2, 3, 4).image("dog", 8).text(5, 6).build();
    Held cat = new Held();
    prefill(cat, catImage);
    Held dog = new Held();
    assertEquals(4, prefill(dog, dogImage)); // only the text block before the image
    assertEquals(cat.blockId(0), dog.blockId(0));
    assertNotEquals(cat.blockId(1), dog.blockId(1));

    Held cat2 = new Held();
    assertEquals(12, prefill(cat2, catImage)); // text block and both image blocks
    assertArrayEquals(Arrays.copyOf(cat.blockIds(), 3), Arrays.copyOf(cat2.blockIds(), 3));
  }

  @Test
  void theSameImageAtAnotherRowOrPositionIsNotShared() {
    manager = new BlockManager(32, 4, true);
    prefill(new Held(), TestSequence.builder().image("cat", 8).text(1).build());
    assertEquals(8, prefill(new Held(), TestSequence.builder().image("cat", 8).text(2).build()));
    // Same digest and token ids, rows in another order.
    TestSequence swapped =
        TestSequence.builder().imageRows("cat", 4, 4).imageRows("cat", 0, 4).text(1).build();
    assertEquals(0, prefill(new Held(), swapped));
    // Shifted by one position.
    TestSequence shifted =
        TestSequence.builder().text(TestSequence.IMAGE_TOKEN).image("cat", 7).text(1).build();
    assertEquals(0, prefill(new Held(), shifted));
  }

  @Test
  void freeReturnsBlocksAndCachedBlocksCanStillBeHit() {
    manager = new BlockManager(8, 4, true);
    Held a = new Held();
    prefill(a, range(0, 10)); // 3 blocks, 2 full
    int[] aBlocks = a.blockIds();
    free(a);
    assertTrue(a.isEmpty());
    assertEquals(8, manager.numFreeBlocks());

    Held b = new Held();
    assertEquals(8, hold(b, range(0, 12)));
    live.add(b);
    // The hit revived two blocks out of the free queue.
    assertEquals(6, manager.numFreeBlocks());
    assertArrayEquals(Arrays.copyOf(aBlocks, 2), b.blockIds());
    check();
    // Taking every other block never hands out the revived ones.
    Held rest = new Held();
    live.add(rest);
    assertTrue(slots(rest, 24));
    for (int id : rest.blockIds()) {
      assertFalse(id == aBlocks[0] || id == aBlocks[1], "revived block handed out again");
    }
    assertFalse(slots(b, 12));
  }

  @Test
  void sharedBlocksStayUntilTheLastHolderFrees() {
    manager = new BlockManager(8, 4, true);
    Held a = new Held();
    Held b = new Held();
    prefill(a, range(0, 9));
    prefill(b, range(0, 9));
    assertEquals(3 + 1, manager.numUsedBlocks());
    free(a);
    assertEquals(3, manager.numUsedBlocks()); // a's tail block only
    free(b);
    assertEquals(0, manager.numUsedBlocks());
  }

  @Test
  void evictsTheLeastRecentlyFreedBlockTailFirst() {
    manager = new BlockManager(4, 2, true);
    Held a = new Held();
    Held b = new Held();
    prefill(a, TestSequence.text(1, 2, 3, 4));
    prefill(b, TestSequence.text(5, 6, 7, 8));
    int[] aBlocks = a.blockIds();
    free(a);
    free(b);
    // Free queue now: a[1], a[0], b[1], b[0].
    Held c = new Held();
    live.add(c);
    assertTrue(slots(c, 2));
    assertEquals(aBlocks[1], c.blockId(0));
    assertEquals(1, manager.stats().evictions());
    check();

    // a[0] is still cached and revived; a[1] is gone, so the two blocks taken now evict b's.
    assertEquals(2, prefill(new Held(), TestSequence.text(1, 2, 3, 4, 9)));
    assertEquals(new PrefixCacheStats(4 + 4 + 5, 2, 3), manager.stats());
  }

  @Test
  void allocationPrefersUncachedFreeBlocksFreedEarlier() {
    manager = new BlockManager(5, 2, true);
    Held a = new Held();
    prefill(a, TestSequence.text(1, 2, 3, 4));
    free(a);
    // Queue: 2, 3, 4 (never used), then a's blocks 1, 0.
    Held c = new Held();
    live.add(c);
    assertTrue(slots(c, 4));
    assertArrayEquals(new int[] {2, 3}, c.blockIds());
    assertEquals(0, manager.stats().evictions());
    assertEquals(4, prefill(new Held(), TestSequence.text(1, 2, 3, 4, 5)));
  }

  @Test
  void commitRegistersOnlyFullBlocksAndOnlyOnce() {
    manager = new BlockManager(8, 4, true);
    TestSequence s = range(0, 11);
    Held a = new Held();
    live.add(a);
    assertTrue(slots(a, 6));
    commit(a, s, 6); // block 0 full, block 1 half written
    check();
    Held probe = new Held();
    assertEquals(4, hold(probe, s));
    manager.free(probe.table);

    assertTrue(slots(a, 11));
    commit(a, s, 11);
    commit(a, s, 11);
    commit(a, s, 3);
    check();
    Held b = new Held();
    assertEquals(8, hold(b, s));
    live.add(b);
    assertArrayEquals(Arrays.copyOf(a.blockIds(), 2), b.blockIds());
  }

  @Test
  void commitRejectsPositionsBeyondTheTableOrTheSequence() {
    manager = new BlockManager(8, 4, true);
    Held a = new Held();
    live.add(a);
    slots(a, 4);
    assertThrows(IllegalArgumentException.class, () -> commit(a, range(0, 8), 5));
    assertThrows(IllegalArgumentException.class, () -> commit(a, range(0, 3), 4));
    assertThrows(IllegalArgumentException.class, () -> commit(a, range(0, 3), -1));
  }

  @Test
  void anEqualBlockCommittedTwiceKeepsTheFirstEntry() {
    manager = new BlockManager(8, 4, true);
    TestSequence s = range(0, 5);
    Held a = new Held();
    Held b = new Held();
    // Both scheduled before either committed: both compute block 0.
    hold(a, s);
    hold(b, s);
    slots(a, 5);
    slots(b, 5);
    live.add(a);
    live.add(b);
    commit(a, s, 5);
    commit(b, s, 5);
    check();
    Held c = new Held();
    assertEquals(4, hold(c, s));
    live.add(c);
    assertEquals(a.blockId(0), c.blockId(0));
    // b's duplicate was never cached, so reusing it evicts nothing.
    free(a);
    free(b);
    Held all = new Held();
    live.add(all);
    assertTrue(slots(all, 28));
    assertEquals(0, manager.stats().evictions());
  }

  @Test
  void collidingHashesAreToldApartByContent() {
    manager = new BlockManager(16, 4, true, (parent, tokens, start, length) -> 42L);
    Held a = new Held();
    prefill(a, TestSequence.text(1, 2, 3, 4, 5, 6, 7, 8, 9));
    // Different content, same hash: no hit.
    Held b = new Held();
    assertEquals(0, prefill(b, TestSequence.text(9, 9, 9, 9, 9)));
    // The first entry was kept: a's prefix still hits its first block. Its second block shares
    // the hash too, so it was never cached.
    Held c = new Held();
    assertEquals(4, prefill(c, TestSequence.text(1, 2, 3, 4, 5, 6, 7, 8, 9)));
    assertEquals(a.blockId(0), c.blockId(0));
    // a's first block again, but one block later: the first block's content check stops it.
    Held d = new Held();
    assertEquals(0, prefill(d, TestSequence.text(5, 6, 7, 8, 1, 2, 3, 4, 0)));
  }

  @Test
  void aBlockWithEqualContentUnderAnotherParentIsNotHit() {
    // Hash ignores the parent, so a block is found whatever precedes it; the stored parent hash
    // must still match.
    BlockHashFunction contentOnly =
        (parent, tokens, start, length) -> PrefixHash.of(0, tokens, start, length);
    manager = new BlockManager(8, 2, true, contentOnly);
    prefill(new Held(), TestSequence.text(1, 2, 3, 4, 0));
    assertEquals(0, prefill(new Held(), TestSequence.text(3, 4, 0)));
    assertEquals(4, prefill(new Held(), TestSequence.text(1, 2, 3, 4, 7)));
  }

  @Test
  void freeingABlockWithNoReferencesIsADoubleFree() {
    manager = new BlockManager(4, 4, true);
    Held t = new Held();
    slots(t, 4);
    BlockManager other = new BlockManager(4, 4, true);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> other.free(t.table));
    assertTrue(e.getMessage().contains("double free"), e.getMessage());
    assertEquals(1, t.numBlocks()); // unchanged
    live.add(t);
    free(t);
    manager.free(t.table); // empty table: nothing to do
    assertEquals(4, manager.numFreeBlocks());
  }

  @Test
  void numCachedTokensSurvivesFreeAndResetsAtTheNextLookup() {
    manager = new BlockManager(8, 4, true);
    prefill(new Held(), range(0, 8));
    Held t = new Held();
    assertEquals(4, prefill(t, range(0, 8)));
    free(t);
    assertEquals(4, t.numCachedTokens());
    assertEquals(0, prefill(t, range(50, 58)));
    assertEquals(0, t.numCachedTokens());
  }

  @Test
  void withoutPrefixCachingNothingIsShared() {
    manager = new BlockManager(8, 4, false);
    Held a = new Held();
    prefill(a, range(0, 9));
    free(a);
    Held b = new Held();
    assertEquals(0, prefill(b, range(0, 9)));
    assertEquals(new PrefixCacheStats(0, 0, 0), manager.stats());
  }

  @Test
  void checkInvariantsNoticesAMissingOrDuplicatedTable() {
    manager = new BlockManager(4, 4, true);
    Held t = new Held();
    slots(t, 4);
    IllegalStateException missing =
        assertThrows(
            IllegalStateException.class, () -> BlockManagerInvariants.check(manager, List.of()));
    assertTrue(missing.getMessage().contains("ref count 1 but 0 holders"), missing.getMessage());
    assertThrows(
        IllegalStateException.class,
        () -> BlockManagerInvariants.check(manager, List.of(t.table, t.table)));
    live.add(t);
  }

  @Test
  void statsRejectImpossibleCounters() {
    assertThrows(IllegalArgumentException.class, () -> new PrefixCacheStats(1, 2, 0));
    assertThrows(IllegalArgumentException.class, () -> new PrefixCacheStats(0, 0, -1));
    assertEquals(0.25, new PrefixCacheStats(8, 2, 0).hitRate());
    assertEquals(0.0, new PrefixCacheStats(0, 0, 0).hitRate());
  }
}
