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
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BlockManagerTest {

  private BlockManager manager;
  private final List<BlockTable> live = new ArrayList<>();

  @AfterEach
  void invariantsHoldAtTheEnd() {
    if (manager != null) {
      manager.checkInvariants(live);
    }
  }

  /** Runs {@code seq} as one prefill: prefix lookup, slots for the rest, commit. Returns hits. */
  private int prefill(BlockTable table, TokenSource seq) {
    int hit = manager.allocateCachedPrefix(table, seq);
    assertTrue(manager.allocateSlots(table, seq.length()), "slots for " + seq);
    manager.commit(table, seq, seq.length());
    if (!live.contains(table)) {
      live.add(table);
    }
    manager.checkInvariants(live);
    return hit;
  }

  private void free(BlockTable table) {
    manager.free(table);
    live.remove(table);
    manager.checkInvariants(live);
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
    BlockTable t = new BlockTable();
    live.add(t);
    assertEquals(0, manager.blocksNeeded(t, 0));
    assertEquals(1, manager.blocksNeeded(t, 1));
    assertEquals(1, manager.blocksNeeded(t, 4));
    assertEquals(2, manager.blocksNeeded(t, 5));
    assertTrue(manager.allocateSlots(t, 0));
    assertEquals(0, t.numBlocks());
    assertTrue(manager.allocateSlots(t, 4));
    assertEquals(1, t.numBlocks());
    assertEquals(0, manager.blocksNeeded(t, 4));
    assertEquals(1, manager.blocksNeeded(t, 5));
    assertTrue(manager.allocateSlots(t, 5));
    assertTrue(manager.allocateSlots(t, 3)); // already covered
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
    BlockTable a = new BlockTable();
    BlockTable b = new BlockTable();
    live.add(a);
    live.add(b);
    assertTrue(manager.allocateSlots(a, 8));
    assertTrue(manager.allocateSlots(b, 1));
    assertFalse(manager.allocateSlots(b, 12)); // needs 2 more, 1 free
    assertEquals(1, b.numBlocks());
    assertEquals(1, manager.numFreeBlocks());
    assertTrue(manager.allocateSlots(b, 8));
    assertEquals(0, manager.numFreeBlocks());
  }

  @Test
  void rejectsTokenCountsThePoolCouldNeverHold() {
    manager = new BlockManager(3, 4, true);
    BlockTable t = new BlockTable();
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> manager.allocateSlots(t, 13));
    assertTrue(e.getMessage().contains("13"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> manager.allocateSlots(t, -1));
    assertThrows(IllegalArgumentException.class, () -> manager.blocksNeeded(t, 13));
    assertTrue(manager.allocateSlots(t, 12));
    live.add(t);
  }

  @Test
  void lookupNeedsAnEmptyTable() {
    manager = new BlockManager(4, 4, true);
    BlockTable t = new BlockTable();
    live.add(t);
    manager.allocateSlots(t, 1);
    assertThrows(
        IllegalArgumentException.class, () -> manager.allocateCachedPrefix(t, range(0, 8)));
  }

  @Test
  void aOneBlockPromptNeverHitsBecauseItsLastTokenIsComputed() {
    manager = new BlockManager(8, 4, true);
    TestSequence oneBlock = range(0, 4);
    BlockTable a = new BlockTable();
    assertEquals(0, prefill(a, oneBlock));
    free(a);
    BlockTable b = new BlockTable();
    assertEquals(0, prefill(b, oneBlock));
    assertEquals(0, b.numCachedTokens());
    BlockTable c = new BlockTable();
    assertEquals(4, prefill(c, range(0, 5)));
    assertEquals(4, c.numCachedTokens());
  }

  @Test
  void aSecondSequenceSharesTheTwoBlockPrefixUpToTheLastTokenRule() {
    manager = new BlockManager(16, 4, true);
    TestSequence twoBlocks = range(0, 8);
    BlockTable a = new BlockTable();
    prefill(a, twoBlocks);

    // Same 8 tokens: at most 7 may be cached, rounded down to one block.
    BlockTable same = new BlockTable();
    assertEquals(4, prefill(same, twoBlocks));
    assertEquals(a.blockId(0), same.blockId(0));
    assertNotEquals(a.blockId(1), same.blockId(1));

    // One more token: both blocks are shared.
    BlockTable longer = new BlockTable();
    assertEquals(8, prefill(longer, range(0, 9)));
    assertEquals(a.blockId(0), longer.blockId(0));
    assertEquals(a.blockId(1), longer.blockId(1));
    assertEquals(3, longer.numBlocks());

    // Diverging in the second block: only the first is shared.
    BlockTable diverging = new BlockTable();
    assertEquals(4, prefill(diverging, TestSequence.text(0, 1, 2, 3, 4, 5, 99, 7, 8)));

    // a: 2, same: 1 new, longer: 1 new, diverging: 2 new.
    assertEquals(6, manager.numUsedBlocks());
    assertEquals(new PrefixCacheStats(8 + 8 + 9 + 9, 4 + 8 + 4, 0), manager.stats());
  }

  @Test
  void blockSizeOne() {
    manager = new BlockManager(16, 1, true);
    prefill(new BlockTable(), TestSequence.text(1, 2, 3));
    assertEquals(2, prefill(new BlockTable(), TestSequence.text(1, 2, 3)));
    assertEquals(3, prefill(new BlockTable(), TestSequence.text(1, 2, 3, 4)));
    assertEquals(2, prefill(new BlockTable(), TestSequence.text(1, 2, 9)));
    assertEquals(1, prefill(new BlockTable(), TestSequence.text(1, 9)));
    assertEquals(0, prefill(new BlockTable(), TestSequence.text(9)));
    assertEquals(0, prefill(new BlockTable(), TestSequence.text(1)));
  }

  @Test
  void emptySequenceLooksUpNothing() {
    manager = new BlockManager(4, 4, true);
    assertEquals(0, manager.allocateCachedPrefix(new BlockTable(), TestSequence.text()));
  }

  @Test
  void identicalTokenIdsWithDifferentImagesDoNotShareImageBlocks() {
    manager = new BlockManager(32, 4, true);
    // [text block][image rows 0-3][image rows 4-7][text 2 tokens]
    TestSequence catImage =
        TestSequence.builder().text(1, 2, 3, 4).image("cat", 8).text(5, 6).build();
    TestSequence dogImage =
        TestSequence.builder().text(1, 2, 3, 4).image("dog", 8).text(5, 6).build();
    BlockTable cat = new BlockTable();
    prefill(cat, catImage);
    BlockTable dog = new BlockTable();
    assertEquals(4, prefill(dog, dogImage)); // only the text block before the image
    assertEquals(cat.blockId(0), dog.blockId(0));
    assertNotEquals(cat.blockId(1), dog.blockId(1));

    BlockTable cat2 = new BlockTable();
    assertEquals(12, prefill(cat2, catImage)); // text block and both image blocks
    assertArrayEquals(Arrays.copyOf(cat.blockIds(), 3), Arrays.copyOf(cat2.blockIds(), 3));
  }

  @Test
  void theSameImageAtAnotherRowOrPositionIsNotShared() {
    manager = new BlockManager(32, 4, true);
    prefill(new BlockTable(), TestSequence.builder().image("cat", 8).text(1).build());
    assertEquals(
        8, prefill(new BlockTable(), TestSequence.builder().image("cat", 8).text(2).build()));
    // Same digest and token ids, rows in another order.
    TestSequence swapped =
        TestSequence.builder().imageRows("cat", 4, 4).imageRows("cat", 0, 4).text(1).build();
    assertEquals(0, prefill(new BlockTable(), swapped));
    // Shifted by one position.
    TestSequence shifted =
        TestSequence.builder().text(TestSequence.IMAGE_TOKEN).image("cat", 7).text(1).build();
    assertEquals(0, prefill(new BlockTable(), shifted));
  }

  @Test
  void freeReturnsBlocksAndCachedBlocksCanStillBeHit() {
    manager = new BlockManager(8, 4, true);
    BlockTable a = new BlockTable();
    prefill(a, range(0, 10)); // 3 blocks, 2 full
    int[] aBlocks = a.blockIds();
    free(a);
    assertTrue(a.isEmpty());
    assertEquals(8, manager.numFreeBlocks());

    BlockTable b = new BlockTable();
    assertEquals(8, manager.allocateCachedPrefix(b, range(0, 12)));
    live.add(b);
    // The hit revived two blocks out of the free queue.
    assertEquals(6, manager.numFreeBlocks());
    assertArrayEquals(Arrays.copyOf(aBlocks, 2), b.blockIds());
    manager.checkInvariants(live);
    // Taking every other block never hands out the revived ones.
    BlockTable rest = new BlockTable();
    live.add(rest);
    assertTrue(manager.allocateSlots(rest, 24));
    for (int id : rest.blockIds()) {
      assertFalse(id == aBlocks[0] || id == aBlocks[1], "revived block handed out again");
    }
    assertFalse(manager.allocateSlots(b, 12));
  }

  @Test
  void sharedBlocksStayUntilTheLastHolderFrees() {
    manager = new BlockManager(8, 4, true);
    BlockTable a = new BlockTable();
    BlockTable b = new BlockTable();
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
    BlockTable a = new BlockTable();
    BlockTable b = new BlockTable();
    prefill(a, TestSequence.text(1, 2, 3, 4));
    prefill(b, TestSequence.text(5, 6, 7, 8));
    int[] aBlocks = a.blockIds();
    free(a);
    free(b);
    // Free queue now: a[1], a[0], b[1], b[0].
    BlockTable c = new BlockTable();
    live.add(c);
    assertTrue(manager.allocateSlots(c, 2));
    assertEquals(aBlocks[1], c.blockId(0));
    assertEquals(1, manager.stats().evictions());
    manager.checkInvariants(live);

    // a[0] is still cached and revived; a[1] is gone, so the two blocks taken now evict b's.
    assertEquals(2, prefill(new BlockTable(), TestSequence.text(1, 2, 3, 4, 9)));
    assertEquals(new PrefixCacheStats(4 + 4 + 5, 2, 3), manager.stats());
  }

  @Test
  void allocationPrefersUncachedFreeBlocksFreedEarlier() {
    manager = new BlockManager(5, 2, true);
    BlockTable a = new BlockTable();
    prefill(a, TestSequence.text(1, 2, 3, 4));
    free(a);
    // Queue: 2, 3, 4 (never used), then a's blocks 1, 0.
    BlockTable c = new BlockTable();
    live.add(c);
    assertTrue(manager.allocateSlots(c, 4));
    assertArrayEquals(new int[] {2, 3}, c.blockIds());
    assertEquals(0, manager.stats().evictions());
    assertEquals(4, prefill(new BlockTable(), TestSequence.text(1, 2, 3, 4, 5)));
  }

  @Test
  void commitRegistersOnlyFullBlocksAndOnlyOnce() {
    manager = new BlockManager(8, 4, true);
    TestSequence s = range(0, 11);
    BlockTable a = new BlockTable();
    live.add(a);
    assertTrue(manager.allocateSlots(a, 6));
    manager.commit(a, s, 6); // block 0 full, block 1 half written
    manager.checkInvariants(live);
    BlockTable probe = new BlockTable();
    assertEquals(4, manager.allocateCachedPrefix(probe, s));
    manager.free(probe);

    assertTrue(manager.allocateSlots(a, 11));
    manager.commit(a, s, 11);
    manager.commit(a, s, 11);
    manager.commit(a, s, 3);
    manager.checkInvariants(live);
    BlockTable b = new BlockTable();
    assertEquals(8, manager.allocateCachedPrefix(b, s));
    live.add(b);
    assertArrayEquals(Arrays.copyOf(a.blockIds(), 2), b.blockIds());
  }

  @Test
  void commitRejectsPositionsBeyondTheTableOrTheSequence() {
    manager = new BlockManager(8, 4, true);
    BlockTable a = new BlockTable();
    live.add(a);
    manager.allocateSlots(a, 4);
    assertThrows(IllegalArgumentException.class, () -> manager.commit(a, range(0, 8), 5));
    assertThrows(IllegalArgumentException.class, () -> manager.commit(a, range(0, 3), 4));
    assertThrows(IllegalArgumentException.class, () -> manager.commit(a, range(0, 3), -1));
  }

  @Test
  void anEqualBlockCommittedTwiceKeepsTheFirstEntry() {
    manager = new BlockManager(8, 4, true);
    TestSequence s = range(0, 5);
    BlockTable a = new BlockTable();
    BlockTable b = new BlockTable();
    // Both scheduled before either committed: both compute block 0.
    manager.allocateCachedPrefix(a, s);
    manager.allocateCachedPrefix(b, s);
    manager.allocateSlots(a, 5);
    manager.allocateSlots(b, 5);
    live.add(a);
    live.add(b);
    manager.commit(a, s, 5);
    manager.commit(b, s, 5);
    manager.checkInvariants(live);
    BlockTable c = new BlockTable();
    assertEquals(4, manager.allocateCachedPrefix(c, s));
    live.add(c);
    assertEquals(a.blockId(0), c.blockId(0));
    // b's duplicate was never cached, so reusing it evicts nothing.
    free(a);
    free(b);
    BlockTable all = new BlockTable();
    live.add(all);
    assertTrue(manager.allocateSlots(all, 28));
    assertEquals(0, manager.stats().evictions());
  }

  @Test
  void collidingHashesAreToldApartByContent() {
    manager = new BlockManager(16, 4, true, (parent, tokens, start, length) -> 42L);
    BlockTable a = new BlockTable();
    prefill(a, TestSequence.text(1, 2, 3, 4, 5, 6, 7, 8, 9));
    // Different content, same hash: no hit.
    BlockTable b = new BlockTable();
    assertEquals(0, prefill(b, TestSequence.text(9, 9, 9, 9, 9)));
    // The first entry was kept: a's prefix still hits its first block. Its second block shares
    // the hash too, so it was never cached.
    BlockTable c = new BlockTable();
    assertEquals(4, prefill(c, TestSequence.text(1, 2, 3, 4, 5, 6, 7, 8, 9)));
    assertEquals(a.blockId(0), c.blockId(0));
    // a's first block again, but one block later: the first block's content check stops it.
    BlockTable d = new BlockTable();
    assertEquals(0, prefill(d, TestSequence.text(5, 6, 7, 8, 1, 2, 3, 4, 0)));
  }

  @Test
  void aBlockWithEqualContentUnderAnotherParentIsNotHit() {
    // Hash ignores the parent, so a block is found whatever precedes it; the stored parent hash
    // must still match.
    BlockHashFunction contentOnly =
        (parent, tokens, start, length) -> PrefixHash.of(0, tokens, start, length);
    manager = new BlockManager(8, 2, true, contentOnly);
    prefill(new BlockTable(), TestSequence.text(1, 2, 3, 4, 0));
    assertEquals(0, prefill(new BlockTable(), TestSequence.text(3, 4, 0)));
    assertEquals(4, prefill(new BlockTable(), TestSequence.text(1, 2, 3, 4, 7)));
  }

  @Test
  void freeingABlockWithNoReferencesIsADoubleFree() {
    manager = new BlockManager(4, 4, true);
    BlockTable t = new BlockTable();
    manager.allocateSlots(t, 4);
    BlockManager other = new BlockManager(4, 4, true);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> other.free(t));
    assertTrue(e.getMessage().contains("double free"), e.getMessage());
    assertEquals(1, t.numBlocks()); // unchanged
    live.add(t);
    free(t);
    manager.free(t); // empty table: nothing to do
    assertEquals(4, manager.numFreeBlocks());
  }

  @Test
  void numCachedTokensSurvivesFreeAndResetsAtTheNextLookup() {
    manager = new BlockManager(8, 4, true);
    prefill(new BlockTable(), range(0, 8));
    BlockTable t = new BlockTable();
    assertEquals(4, prefill(t, range(0, 8)));
    free(t);
    assertEquals(4, t.numCachedTokens());
    assertEquals(0, prefill(t, range(50, 58)));
    assertEquals(0, t.numCachedTokens());
  }

  @Test
  void withoutPrefixCachingNothingIsShared() {
    manager = new BlockManager(8, 4, false);
    BlockTable a = new BlockTable();
    prefill(a, range(0, 9));
    free(a);
    BlockTable b = new BlockTable();
    assertEquals(0, prefill(b, range(0, 9)));
    assertEquals(new PrefixCacheStats(0, 0, 0), manager.stats());
  }

  @Test
  void checkInvariantsNoticesAMissingOrDuplicatedTable() {
    manager = new BlockManager(4, 4, true);
    BlockTable t = new BlockTable();
    manager.allocateSlots(t, 4);
    IllegalStateException missing =
        assertThrows(IllegalStateException.class, () -> manager.checkInvariants(List.of()));
    assertTrue(missing.getMessage().contains("ref count 1 but 0 holders"), missing.getMessage());
    assertThrows(IllegalStateException.class, () -> manager.checkInvariants(List.of(t, t)));
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
