package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.batching.scheduler.Sequence;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Requests for {@code n} choices over the fake runner: the prompt's full blocks are computed once
 * and shared, each seeded choice is the single request of its derived seed, and every block comes
 * back whether the choices finish, are cancelled or are preempted.
 */
class ManyChoicesTest {

  static final int VOCAB = 32000;
  static final int BLOCK = 4;
  // 22 prompt positions: 5 full blocks shared ((22 - 1) / 4), the last 2 positions each choice's.
  static final int[] PROMPT = prompt(22);
  static final int SHARED = 5;

  static int[] prompt(int length) {
    int[] ids = new int[length];
    for (int i = 0; i < length; i++) {
      ids[i] = 100 + 37 * i;
    }
    return ids;
  }

  static EngineLoop loop(int numBlocks, boolean prefixCaching) {
    return loop(new FakeModelRunner(numBlocks, BLOCK, VOCAB), prefixCaching);
  }

  static EngineLoop loop(FakeModelRunner runner, boolean prefixCaching) {
    runner.rows = EngineLoopTest.ROWS;
    ModelSpec spec =
        new ModelSpec(Workload.IMAGE_TOKEN, EngineLoopTest.ROWS, 4096, FakeModelRunner.EOS);
    return new EngineLoop(
        runner,
        LlamaTokenizer.bundledLlama(),
        spec,
        EngineConfig.defaults()
            .withScheduler(SchedulerConfig.defaults())
            .withPrefixCaching(prefixCaching));
  }

  static SamplingParams sampled(long seed, int maxTokens) {
    // The fake's logits favour one token by 20 nats; at temperature 2 a draw is a real draw.
    return SamplingParams.builder()
        .temperature(2.0)
        .seed(seed)
        .ignoreEos(true)
        .maxTokens(maxTokens)
        .build();
  }

  static GenerationRequest request(String id, SamplingParams p, int n) {
    return GenerationRequest.interactive(id, PROMPT, List.of(), p).withN(n);
  }

  static int[] tokensOf(TestSubscriber<TokenEvent> ts, int choice) {
    return ts.values().stream()
        .filter(e -> e instanceof TokenEvent.Token t && t.choice() == choice)
        .mapToInt(e -> ((TokenEvent.Token) e).tokenId())
        .toArray();
  }

  static List<TokenEvent.Finished> finishes(TestSubscriber<TokenEvent> ts) {
    return ts.values().stream()
        .filter(e -> e instanceof TokenEvent.Finished)
        .map(e -> (TokenEvent.Finished) e)
        .toList();
  }

  static int[] alone(GenerationRequest r) {
    EngineLoop loop = loop(64, true);
    TestSubscriber<TokenEvent> ts = loop.submit(r).test();
    EngineLoopTest.runToEnd(loop);
    return tokensOf(ts, 0);
  }

  /** Blocks held by the live sequences, each counted once. */
  static Set<Integer> heldBlocks(EngineLoop loop) {
    Set<Integer> held = new HashSet<>();
    for (Sequence s : loop.liveSequences()) {
      for (int id : s.blockTable().blockIds()) {
        held.add(id);
      }
    }
    return held;
  }

  @Test
  void fourChoicesHoldThePromptBlocksOnceNotFourTimes() {
    for (boolean caching : new boolean[] {false, true}) {
      FakeModelRunner runner = new FakeModelRunner(64, BLOCK, VOCAB);
      EngineLoop loop = loop(runner, caching);
      TestSubscriber<TokenEvent> ts = loop.submit(request("r", sampled(7, 8), 4)).test();
      loop.step(); // choice 0 computes the prompt; the others wait for its blocks
      assertEquals(1, loop.liveSequences().stream().filter(s -> s.numComputedTokens() > 0).count());
      loop.step(); // choices 1-3 fork the 5 full blocks and compute only their 2 last positions
      List<Sequence> live = loop.liveSequences();
      assertEquals(4, live.size());
      int[] first = Arrays.copyOf(live.get(0).blockTable().blockIds(), SHARED);
      for (Sequence s : live) {
        assertArrayEquals(first, Arrays.copyOf(s.blockTable().blockIds(), SHARED), "" + s);
        assertEquals(6, s.blockTable().numBlocks(), "" + s); // 23 or 22 positions: 6 blocks
      }
      // The prompt's 5 full blocks once plus one own block per choice: 9, where four separate
      // requests would hold 4 x 6 = 24.
      assertEquals(SHARED + 4, loop.blockManager().numUsedBlocks());
      assertEquals(heldBlocks(loop).size(), loop.blockManager().numUsedBlocks());
      int peak = 0;
      while (loop.step()) {
        assertEquals(heldBlocks(loop).size(), loop.blockManager().numUsedBlocks());
        peak = Math.max(peak, loop.blockManager().numUsedBlocks());
      }
      // 22 + 8 tokens leave at most 29 computed positions: 8 blocks a choice, 3 of them its own.
      assertTrue(peak <= SHARED + 4 * 3, "peak " + peak);
      assertEquals(0, loop.blockManager().numUsedBlocks());
      ts.assertComplete();
      List<TokenEvent.Finished> ends = finishes(ts);
      assertEquals(4, ends.size());
      assertEquals(
          Set.of(0, 1, 2, 3),
          new HashSet<>(ends.stream().map(TokenEvent.Finished::choice).toList()));
      assertEquals(List.of(false, false, false, true), ends.stream().map(f -> f.last()).toList());
      for (TokenEvent.Finished f : ends) {
        assertEquals(FinishReason.LENGTH, f.reason());
        assertEquals(22, f.usage().promptTokens());
        assertEquals(8, f.usage().completionTokens());
      }
      // Prompt positions sent to the model: 22 once, then 2 for each other choice (not 4 x 22).
      int promptComputed = 0;
      for (ScheduledBatch b : runner.batches) {
        for (SequenceChunk c : b.chunks()) {
          promptComputed += Math.max(0, Math.min(c.contextLength(), 22) - c.startPosition());
        }
      }
      assertEquals(22 + 3 * 2, promptComputed);
      assertEquals(1, loop.stats().requestsFinished());
    }
  }

  @Test
  void eachSeededChoiceEqualsASingleRequestSentWithSeedPlusItsIndex() {
    EngineLoop loop = loop(64, true);
    TestSubscriber<TokenEvent> ts = loop.submit(request("r", sampled(1000, 12), 4)).test();
    EngineLoopTest.runToEnd(loop);
    Set<String> distinct = new HashSet<>();
    for (int i = 0; i < 4; i++) {
      int[] expected = alone(request("alone" + i, sampled(1000 + i, 12), 1));
      assertArrayEquals(expected, tokensOf(ts, i), "choice " + i);
      distinct.add(Arrays.toString(expected));
    }
    assertEquals(4, distinct.size(), "the four seeds must draw four different answers");
  }

  @Test
  void greedyChoicesAreIdentical() {
    EngineLoop loop = loop(64, false);
    SamplingParams greedy = SamplingParams.builder().temperature(0).maxTokens(10).build();
    TestSubscriber<TokenEvent> ts = loop.submit(request("g", greedy, 3)).test();
    EngineLoopTest.runToEnd(loop);
    int[] expected = alone(request("g1", greedy, 1));
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(expected, tokensOf(ts, i));
    }
  }

  @Test
  void cancellingTheRequestAbortsEveryChoiceAndFreesEveryBlock() {
    EngineLoop loop = loop(64, true);
    TestSubscriber<TokenEvent> running = loop.submit(request("a", sampled(1, 50), 4)).test();
    TestSubscriber<TokenEvent> waiting = loop.submit(request("b", sampled(2, 50), 3)).test();
    loop.step(); // a's choice 0 and b's choice 0 run; the others wait for their prompts
    assertTrue(loop.blockManager().numUsedBlocks() > 0);
    waiting.cancel(); // choices of b that never ran, and one that did
    loop.step();
    loop.step();
    assertEquals(4, loop.liveSequences().size());
    running.cancel();
    loop.step();
    assertEquals(0, loop.blockManager().numUsedBlocks());
    assertTrue(loop.liveSequences().isEmpty());
    assertEquals(0, loop.stats().kvBlocksUsed());
    assertFalse(loop.step());
  }

  @Test
  void aPoolTooSmallForTwoRequestsPreemptsAndEachChoiceStillMatchesItsSeed() {
    // Each request alone needs 5 + 2 x (9 - 5) = 13 blocks of the 14; together they preempt.
    EngineLoop loop = loop(14, true);
    TestSubscriber<TokenEvent> a = loop.submit(request("a", sampled(10, 12), 2)).test();
    TestSubscriber<TokenEvent> b = loop.submit(request("b", sampled(20, 12), 2)).test();
    EngineLoopTest.runToEnd(loop);
    assertTrue(loop.stats().preemptions() > 0, "expected preemptions, " + loop.stats());
    for (int i = 0; i < 2; i++) {
      assertArrayEquals(alone(request("a" + i, sampled(10 + i, 12), 1)), tokensOf(a, i));
      assertArrayEquals(alone(request("b" + i, sampled(20 + i, 12), 1)), tokensOf(b, i));
    }
    a.assertComplete();
    b.assertComplete();
    assertEquals(0, loop.blockManager().numUsedBlocks());
  }

  @Test
  void choicesThatCannotFitTheKvPoolTogetherAreRefusedNamingN() {
    EngineLoop loop = loop(14, true);
    RequestRejectedException e =
        assertThrows(
            RequestRejectedException.class, () -> loop.submit(request("r", sampled(1, 12), 3)));
    assertEquals("n", e.field());
    assertEquals(2, e.limit());
    assertEquals(3, e.value());
    assertEquals(0, loop.stats().kvBlocksUsed());
  }
}
