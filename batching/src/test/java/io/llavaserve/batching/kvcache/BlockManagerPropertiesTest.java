package io.llavaserve.batching.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.statistics.Statistics;

/**
 * Random runs of arrivals, chunked prefill steps and frees against a small pool, checked after
 * every operation against the manager's invariants and a shadow model: a map from prefix content to
 * the block caching it (the expected cache) and, per block, the prefix whose K/V was last written
 * there (what a hit would actually read).
 */
class BlockManagerPropertiesTest {

  sealed interface Op permits Arrive, Step, Free {}

  /** A new sequence: one of a few shared prefixes, one of two images, a random suffix. */
  record Arrive(int prefix, int image, int suffixLength, int suffixSeed) implements Op {}

  /** Schedules the picked sequence for up to {@code chunk} more tokens, or finishes it. */
  record Step(int pick, int chunk) implements Op {}

  record Free(int pick) implements Op {}

  @Provide
  Arbitrary<List<Op>> operations() {
    Arbitrary<Op> arrive =
        Combinators.combine(
                Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, 1),
                Arbitraries.integers().between(0, 12),
                Arbitraries.integers())
            .as((p, i, n, seed) -> (Op) new Arrive(p, i, n, seed));
    Arbitrary<Op> step =
        Combinators.combine(
                Arbitraries.integers().between(0, 7), Arbitraries.integers().between(1, 9))
            .as((pick, chunk) -> (Op) new Step(pick, chunk));
    Arbitrary<Op> free = Arbitraries.integers().between(0, 7).map(pick -> (Op) new Free(pick));
    return Arbitraries.frequencyOf(Tuple.of(3, arrive), Tuple.of(6, step), Tuple.of(2, free))
        .list()
        .ofMinSize(10)
        .ofMaxSize(80);
  }

  @Property(tries = 1000)
  void invariantsAndModelHoldThroughRandomRuns(
      @ForAll @IntRange(min = 1, max = 4) int blockSize,
      @ForAll @IntRange(min = 3, max = 10) int numBlocks,
      @ForAll("operations") List<Op> ops) {
    Run run = new Run(numBlocks, blockSize);
    run.play(ops);
    // The generator must keep reaching the interesting paths, or the property proves little.
    Statistics.label("hit").collect(run.manager.stats().hits() > 0);
    Statistics.label("evicted").collect(run.manager.stats().evictions() > 0);
    Statistics.label("preempted").collect(run.preemptions > 0);
    for (String label : List.of("hit", "evicted", "preempted")) {
      Statistics.label(label).coverage(checker -> checker.check(true).percentage(p -> p > 20));
    }
  }

  private static final class Live {
    final TestSequence seq;
    BlockTable table = BlockTable.EMPTY;
    int computed;
    int committedBlocks;

    Live(TestSequence seq) {
      this.seq = seq;
    }
  }

  private static final class Run {
    final BlockManager manager;
    final int blockSize;
    final List<Live> live = new ArrayList<>();
    // Shadow prefix cache: content of positions [0, block end) -> block id.
    final Map<String, Integer> shadowCache = new HashMap<>();
    final Map<Integer, String> shadowKeyOfBlock = new HashMap<>();
    // Per block, the prefix whose K/V the last write left there.
    final String[] writtenPrefix;
    // Committed sequences -> full blocks they committed.
    final Map<String, Integer> committedBlocks = new LinkedHashMap<>();
    final Map<String, TestSequence> committedSequences = new HashMap<>();
    long expectedEvictions;
    int preemptions;

    Run(int numBlocks, int blockSize) {
      this.manager = new BlockManager(numBlocks, blockSize, true);
      this.blockSize = blockSize;
      this.writtenPrefix = new String[numBlocks];
    }

    void play(List<Op> ops) {
      for (Op op : ops) {
        if (op instanceof Arrive a) {
          live.add(new Live(sequence(a)));
        } else if (op instanceof Step s && !live.isEmpty()) {
          step(live.get(s.pick() % live.size()), s.chunk());
        } else if (op instanceof Free f && !live.isEmpty()) {
          free(live.get(f.pick() % live.size()));
        }
        check();
      }
      while (!live.isEmpty()) {
        free(live.get(live.size() - 1));
        check();
      }
      assertEquals(manager.numBlocks(), manager.numFreeBlocks());
      assertEquals(0, manager.numUsedBlocks());
      relookupEverythingCommitted();
    }

    TestSequence sequence(Arrive a) {
      String digest = a.image() == 0 ? "imgA" : "imgB";
      TestSequence.Builder b = TestSequence.builder();
      switch (a.prefix()) {
        case 0 -> b.text(1, 2, 3, 4, 5, 6);
        case 1 -> b.text(1, 2, 3).image(digest, 5).text(7);
        default -> b.image(digest, 6).text(8, 9);
      }
      Random random = new Random(a.suffixSeed());
      for (int i = 0; i < a.suffixLength(); i++) {
        b.text(10 + random.nextInt(2));
      }
      TestSequence full = b.build();
      int capacity = manager.numBlocks() * blockSize;
      if (full.length() <= capacity) {
        return full;
      }
      TestSequence.Builder cut = TestSequence.builder();
      for (int p = 0; p < capacity; p++) {
        if (full.imageDigestAt(p) == null) {
          cut.text(full.tokenAt(p));
        } else {
          cut.imageRows(full.imageDigestAt(p), full.imageRowAt(p), 1);
        }
      }
      return cut.build();
    }

    void step(Live s, int chunk) {
      int length = s.seq.length();
      if (s.computed == length) {
        free(s); // finished
        return;
      }
      CachedPrefix prefix = null;
      if (s.table.isEmpty()) {
        prefix = lookup(s.seq);
        s.computed = prefix.numTokens();
        s.committedBlocks = s.computed / blockSize;
      }
      int end = Math.min(length, s.computed + chunk);
      BlockTable held = prefix != null ? prefix.blocks() : s.table;
      int[] before = held.blockIds();
      int needed = manager.blocksNeeded(held, end);
      int revived = 0;
      if (prefix != null) {
        for (int id : before) {
          revived += manager.refCount(id) == 0 ? 1 : 0;
        }
      }
      int freeBefore = manager.numFreeBlocks();
      Optional<BlockTable> grown =
          prefix != null ? manager.allocate(prefix, end) : manager.allocateSlots(s.table, end);
      if (grown.isEmpty()) {
        assertTrue(needed > freeBefore - revived);
        assertEquals(freeBefore, manager.numFreeBlocks(), "a failed allocation changed the pool");
        preemptions++;
        manager.free(s.table); // preempted: recomputed from scratch later
        s.table = BlockTable.EMPTY;
        s.computed = 0;
        return;
      }
      s.table = grown.get();
      int[] after = s.table.blockIds();
      assertEquals(before.length + needed, after.length);
      for (int i = before.length; i < after.length; i++) {
        String evicted = shadowKeyOfBlock.remove(after[i]);
        if (evicted != null) {
          shadowCache.remove(evicted);
          expectedEvictions++;
        }
      }
      for (int p = s.computed; p < end; p++) {
        writtenPrefix[s.table.blockId(p / blockSize)] = s.seq.prefixKey(p + 1);
      }
      s.computed = end;
      s.table = manager.commit(s.table, s.seq, end);
      for (int i = s.committedBlocks; i < end / blockSize; i++) {
        String key = s.seq.prefixKey((i + 1) * blockSize);
        if (!shadowCache.containsKey(key)) {
          shadowCache.put(key, s.table.blockId(i));
          shadowKeyOfBlock.put(s.table.blockId(i), key);
        }
        String whole = s.seq.prefixKey(length);
        committedSequences.put(whole, s.seq);
        committedBlocks.merge(whole, i + 1, Math::max);
      }
      s.committedBlocks = Math.max(s.committedBlocks, end / blockSize);
    }

    /** Looks up {@code seq} and checks the answer against the shadow cache and written K/V. */
    CachedPrefix lookup(TestSequence seq) {
      List<Integer> expected = new ArrayList<>();
      int maxBlocks = Math.max(0, seq.length() - 1) / blockSize;
      for (int i = 0; i < maxBlocks; i++) {
        Integer id = shadowCache.get(seq.prefixKey((i + 1) * blockSize));
        if (id == null) {
          break;
        }
        expected.add(id);
      }
      CachedPrefix prefix = manager.findCachedPrefix(seq);
      int hit = prefix.numTokens();
      BlockTable table = prefix.blocks();
      assertEquals(expected.size() * blockSize, hit, "hit tokens for " + seq);
      assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), table.blockIds());
      for (int i = 0; i < table.numBlocks(); i++) {
        assertEquals(
            seq.prefixKey((i + 1) * blockSize),
            writtenPrefix[table.blockId(i)],
            "a hit block holds K/V of another prefix");
      }
      assertTrue(hit < seq.length() || seq.length() == 0, "the last token must be computed");
      return prefix;
    }

    void free(Live s) {
      manager.free(s.table);
      s.table = BlockTable.EMPTY;
      live.remove(s);
    }

    void check() {
      BlockManagerInvariants.check(manager, live.stream().map(s -> s.table).toList());
      assertEquals(expectedEvictions, manager.stats().evictions());
    }

    void relookupEverythingCommitted() {
      boolean nothingEvicted = manager.stats().evictions() == 0;
      for (Map.Entry<String, Integer> e : committedBlocks.entrySet()) {
        TestSequence seq = committedSequences.get(e.getKey());
        CachedPrefix prefix = lookup(seq);
        int hit = prefix.numTokens();
        BlockTable table = manager.allocate(prefix, hit).orElseThrow();
        if (nothingEvicted) {
          int maxBlocks = Math.max(0, seq.length() - 1) / blockSize;
          assertTrue(
              hit >= Math.min(e.getValue(), maxBlocks) * blockSize,
              "committed prefix of " + seq + " no longer hits though nothing was evicted");
        }
        BlockManagerInvariants.check(manager, List.of(table));
        manager.free(table);
      }
      assertEquals(manager.numBlocks(), manager.numFreeBlocks());
    }
  }
}
