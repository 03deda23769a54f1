package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.kvcache.BlockManagerInvariants;
import io.llavaserve.batching.kvcache.BlockTable;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.batching.scheduler.Sequence;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.sampling.FinishReason;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.statistics.Statistics;

/**
 * Random workloads (arrivals at random steps, shared prefixes and images, cancellations, pools
 * small enough to force preemption) checked after every step: the token budget and sequence cap
 * hold, block references are consistent; and at the end every block is free, every request finished
 * exactly once, and every request that was not cancelled produced exactly what it produces alone.
 */
class SchedulingPropertiesTest {

  @Property(tries = 60)
  void randomWorkloadsKeepEveryInvariant(
      @ForAll long seed,
      @ForAll @IntRange(min = 1, max = 4) int blockSize,
      @ForAll @IntRange(min = 24, max = 160) int numBlocks,
      @ForAll @IntRange(min = 8, max = 96) int budget,
      @ForAll @IntRange(min = 1, max = 12) int maxSeqs,
      @ForAll boolean prefixCaching) {
    FakeModelRunner runner = new FakeModelRunner(numBlocks, blockSize, EngineLoopTest.VOCAB);
    runner.rows = EngineLoopTest.ROWS;
    SchedulerConfig sc =
        SchedulerConfig.defaults().withMaxNumBatchedTokens(budget).withMaxNumSeqs(maxSeqs);
    int maxModelLen = Math.min(4096, numBlocks * blockSize);
    EngineLoop loop =
        new EngineLoop(
            runner,
            io.llavaserve.engine.tokenizer.LlamaTokenizer.bundledLlama(),
            new ModelSpec(
                Workload.IMAGE_TOKEN, EngineLoopTest.ROWS, maxModelLen, FakeModelRunner.EOS),
            EngineConfig.defaults().withScheduler(sc).withPrefixCaching(prefixCaching));
    Workload w = new Workload(seed, 3, 3);
    SplittableRandom rnd = w.random();

    List<GenerationRequest> requests = new ArrayList<>();
    List<TestSubscriber<TokenEvent>> subs = new ArrayList<>();
    List<Boolean> cancelled = new ArrayList<>();
    int total = 6 + rnd.nextInt(20);
    int steps = 0;
    while (true) {
      if (requests.size() < total && rnd.nextInt(3) == 0) {
        GenerationRequest r =
            w.next(
                1 + rnd.nextInt(24), rnd.nextInt(4) == 0 ? Priority.BATCH : Priority.INTERACTIVE);
        try {
          subs.add(loop.submit(r).test());
          requests.add(r);
          cancelled.add(false);
        } catch (IllegalArgumentException tooLong) {
          total--; // does not fit this pool at all; refused up front
        }
      }
      if (!subs.isEmpty() && rnd.nextInt(25) == 0) {
        int k = rnd.nextInt(subs.size());
        if (!cancelled.get(k)
            && subs.get(k).values().stream().noneMatch(e -> e instanceof TokenEvent.Finished)) {
          subs.get(k).cancel();
          cancelled.set(k, true);
        }
      }
      int before = runner.batches.size();
      boolean worked = loop.step();
      if (runner.batches.size() > before) {
        checkStep(runner.batches.get(runner.batches.size() - 1), budget, maxSeqs);
      }
      checkBlocks(loop);
      if (!worked && requests.size() >= total && loop.liveSequences().isEmpty()) {
        break;
      }
      assertTrue(++steps < 200_000, "no progress");
    }
    EngineStats stats = loop.stats();
    // The coverage checks keep the generator honest: enough runs must exercise each mechanism.
    Statistics.label("preempted").collect(stats.preemptions() > 0);
    Statistics.label("preempted").coverage(c -> c.check(true).percentage(p -> p >= 20));
    Statistics.label("prefix hits").collect(stats.prefixHitTokens() > 0);
    Statistics.label("prefix hits").coverage(c -> c.check(true).percentage(p -> p >= 20));
    Statistics.label("cancelled").collect(cancelled.contains(true));
    Statistics.label("cancelled").coverage(c -> c.check(true).percentage(p -> p >= 20));
    for (ScheduledBatch b : runner.batches) {
      checkStep(b, budget, maxSeqs);
    }
    checkBlocks(loop);
    assertEquals(0, loop.blockManager().numUsedBlocks(), "blocks still in use at the end");
    assertEquals(numBlocks, loop.blockManager().numFreeBlocks());

    for (int i = 0; i < requests.size(); i++) {
      TestSubscriber<TokenEvent> ts = subs.get(i);
      if (cancelled.get(i)) {
        continue; // a cancelled subscription receives nothing more; its blocks were checked above
      }
      ts.assertComplete();
      long finishes = ts.values().stream().filter(e -> e instanceof TokenEvent.Finished).count();
      assertEquals(1, finishes, "request " + i + " finished " + finishes + " times");
      TokenEvent.Finished f = EngineLoopTest.finished(ts);
      assertTrue(
          f.reason() == FinishReason.STOP || f.reason() == FinishReason.LENGTH, f.toString());
      GenerationRequest r = requests.get(i);
      int[] expected =
          FakeModelRunner.reference(
              Workload.contentValues(r, EngineLoopTest.ROWS),
              r.sampling().maxTokens(),
              EngineLoopTest.VOCAB);
      assertArrayEquals(expected, EngineLoopTest.tokens(ts), "request " + i + " output");
    }
  }

  private static void checkStep(ScheduledBatch b, int budget, int maxSeqs) {
    assertTrue(
        b.numTokens() <= budget, "step of " + b.numTokens() + " tokens over budget " + budget);
    assertTrue(
        b.chunks().size() <= maxSeqs, "step of " + b.chunks().size() + " sequences over cap");
    for (SequenceChunk c : b.chunks()) {
      assertTrue(c.length() >= 1);
    }
  }

  private static void checkBlocks(EngineLoop loop) {
    List<BlockTable> tables = new ArrayList<>();
    for (Sequence s : loop.liveSequences()) {
      tables.add(s.blockTable());
    }
    BlockManagerInvariants.check(loop.blockManager(), tables);
  }
}
