package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine loop driven step by step on the test thread, over the fake runner. */
class EngineLoopTest {

  static final int VOCAB = 32000;
  static final int ROWS = 8;

  static EngineLoop loop(FakeModelRunner runner, SchedulerConfig sc) {
    runner.rows = ROWS;
    ModelSpec spec = new ModelSpec(Workload.IMAGE_TOKEN, ROWS, 4096, FakeModelRunner.EOS);
    return new EngineLoop(
        runner, LlamaTokenizer.bundledLlama(), spec, EngineConfig.defaults().withScheduler(sc));
  }

  static int[] tokens(TestSubscriber<TokenEvent> ts) {
    return ts.values().stream()
        .filter(e -> e instanceof TokenEvent.Token)
        .mapToInt(e -> ((TokenEvent.Token) e).tokenId())
        .toArray();
  }

  static TokenEvent.Finished finished(TestSubscriber<TokenEvent> ts) {
    List<TokenEvent> v = ts.values();
    return (TokenEvent.Finished) v.get(v.size() - 1);
  }

  static void runToEnd(EngineLoop loop) {
    int guard = 0;
    while (loop.step()) {
      if (++guard > 100_000) {
        throw new AssertionError("engine did not finish");
      }
    }
  }

  @Test
  void oneRequestMatchesTheReference() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    Workload w = new Workload(1, 0, 1);
    GenerationRequest r = w.next(20, Priority.INTERACTIVE);
    TestSubscriber<TokenEvent> ts = loop.submit(r).test();
    runToEnd(loop);
    int[] expected = FakeModelRunner.reference(Workload.contentValues(r, ROWS), 20, VOCAB);
    assertArrayEquals(expected, tokens(ts));
    TokenEvent.Finished f = finished(ts);
    assertEquals(
        expected[expected.length - 1] == FakeModelRunner.EOS
            ? FinishReason.STOP
            : FinishReason.LENGTH,
        f.reason());
    assertEquals(Workload.contentValues(r, ROWS).length, f.usage().promptTokens());
    assertEquals(expected.length, f.usage().completionTokens());
    ts.assertComplete();
    assertEquals(0, loop.blockManager().numUsedBlocks());
  }

  @Test
  void specialTokensReachTheTextOnlyWhenTheRequestKeepsThem() {
    // logit_bias forces <s> (id 1, a special token of the bundled tokenizer) at every step.
    java.util.Map<Boolean, String> texts = new java.util.HashMap<>();
    for (boolean skip : new boolean[] {true, false}) {
      FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
      EngineLoop loop = loop(runner, SchedulerConfig.defaults());
      SamplingParams params =
          SamplingParams.builder()
              .temperature(0)
              .maxTokens(3)
              .logitBias(java.util.Map.of(1, 100.0))
              .skipSpecialTokens(skip)
              .build();
      TestSubscriber<TokenEvent> ts =
          loop.submit(
                  new GenerationRequest(
                      "special-" + skip,
                      new int[] {5, 6, 7},
                      List.of(),
                      params,
                      Priority.INTERACTIVE))
              .test();
      runToEnd(loop);
      assertArrayEquals(new int[] {1, 1, 1}, tokens(ts));
      StringBuilder text = new StringBuilder();
      ts.values().stream()
          .filter(e -> e instanceof TokenEvent.Token)
          .forEach(e -> text.append(((TokenEvent.Token) e).text()));
      text.append(finished(ts).text());
      texts.put(skip, text.toString());
    }
    assertEquals("", texts.get(true));
    assertEquals("<s><s><s>", texts.get(false));
  }

  @Test
  void sharedImageAndPrefixCostAtMostOneBlockAndNoVision() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    PixelValues img = Workload.image(5);
    int[] prompt = {1, 100, 200, Workload.IMAGE_TOKEN, 13, 300, 400, 500, 600, 700};
    GenerationRequest first =
        GenerationRequest.interactive("a", prompt, List.of(img), SamplingParams.greedy(3));
    loop.submit(first).test();
    runToEnd(loop);
    int visionRuns = runner.visionRuns;
    int batchesBefore = runner.batches.size();

    GenerationRequest second =
        GenerationRequest.interactive("b", prompt, List.of(img), SamplingParams.greedy(3));
    TestSubscriber<TokenEvent> ts = loop.submit(second).test();
    runToEnd(loop);
    assertEquals(visionRuns, runner.visionRuns, "no vision work for a cached image and prefix");
    SequenceChunk prefill = runner.batches.get(batchesBefore).chunks().get(0);
    assertTrue(prefill.length() <= 4, "prefill computed " + prefill.length() + " positions");
    int expandedLength = prompt.length + ROWS - 1;
    assertEquals(expandedLength - prefill.length(), finished(ts).usage().cachedPromptTokens());
    assertArrayEquals(
        FakeModelRunner.reference(Workload.contentValues(second, ROWS), 3, VOCAB), tokens(ts));
  }

  @Test
  void cancellingFreesBlocksAtTheNextStep() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    Workload w = new Workload(2, 0, 0);
    TestSubscriber<TokenEvent> ts = loop.submit(w.next(500, Priority.INTERACTIVE)).test();
    for (int i = 0; i < 3; i++) {
      loop.step();
    }
    assertTrue(loop.blockManager().numUsedBlocks() > 0);
    ts.cancel();
    loop.step();
    assertEquals(0, loop.blockManager().numUsedBlocks());
    assertTrue(loop.liveSequences().isEmpty());
  }

  @Test
  void aFailingStepFinishesItsRequestsWithErrorAndTheLoopGoesOn() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    runner.failStep = step -> step == 2;
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    Workload w = new Workload(3, 0, 0);
    TestSubscriber<TokenEvent> a = loop.submit(w.next(30, Priority.INTERACTIVE)).test();
    loop.step();
    loop.step();
    loop.step(); // fails
    assertEquals(FinishReason.ERROR, finished(a).reason());
    assertEquals(0, loop.blockManager().numUsedBlocks());
    GenerationRequest r = w.next(5, Priority.INTERACTIVE);
    TestSubscriber<TokenEvent> b = loop.submit(r).test();
    runToEnd(loop);
    assertArrayEquals(
        FakeModelRunner.reference(Workload.contentValues(r, ROWS), 5, VOCAB), tokens(b));
  }

  @Test
  void fullQueueRefusesAtOnce() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults().withWaitingLimits(2, 1000));
    Workload w = new Workload(4, 0, 0);
    loop.submit(w.next(5, Priority.INTERACTIVE)).test();
    loop.submit(w.next(5, Priority.INTERACTIVE)).test();
    OverloadedException e =
        assertThrows(OverloadedException.class, () -> loop.submit(w.next(5, Priority.INTERACTIVE)));
    assertTrue(e.getMessage().contains("limit 2"), e.getMessage());
    runToEnd(loop);
    loop.submit(w.next(5, Priority.INTERACTIVE)).test(); // room again once admitted
  }

  @Test
  void requestsThatCanNeverRunAreRejectedNamingTheField() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    RequestRejectedException e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                loop.submit(
                    GenerationRequest.interactive(
                        "x", new int[] {1, 2}, List.of(), SamplingParams.greedy(5000))));
    assertTrue(e.getMessage().startsWith("max_tokens"), e.getMessage());
    assertEquals(List.of("max_tokens", 4096L - 2, 5000L), List.of(e.field(), e.limit(), e.value()));
    e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                loop.submit(
                    GenerationRequest.interactive(
                        "x",
                        new int[] {1, Workload.IMAGE_TOKEN},
                        List.of(),
                        SamplingParams.greedy(5))));
    assertTrue(e.getMessage().startsWith("images"), e.getMessage());
    assertEquals(List.of("images", 1L, 0L), List.of(e.field(), e.limit(), e.value()));
    e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                loop.submit(
                    GenerationRequest.interactive(
                        "x", new int[] {1, 99999}, List.of(), SamplingParams.greedy(5))));
    assertTrue(e.getMessage().startsWith("prompt"), e.getMessage());
    assertEquals(
        List.of("prompt", (long) VOCAB - 1, 99999L), List.of(e.field(), e.limit(), e.value()));
    assertFalse(loop.step(), "a rejected request must not be queued");
    assertTrue(runner.batches.isEmpty());
  }

  @Test
  void aNarrowedValidatorAppliesItsLimitAtAdmission() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    RequestValidator admission =
        loop.validator().withMaxPromptTokens(10, "limits.max-prompt-tokens");
    // One image: 2 + 8 rows = 10 positions fit; a third token does not.
    int[] fits = {1, Workload.IMAGE_TOKEN, 5};
    int[] tooLong = {1, Workload.IMAGE_TOKEN, 5, 6};
    List<PixelValues> image = List.of(Workload.image(1));
    TestSubscriber<TokenEvent> ts =
        loop.submit(
                GenerationRequest.interactive("a", fits, image, SamplingParams.greedy(2)),
                admission)
            .test();
    RequestRejectedException e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                loop.submit(
                    GenerationRequest.interactive("b", tooLong, image, SamplingParams.greedy(2)),
                    admission));
    assertEquals(List.of("prompt", 10L, 11L), List.of(e.field(), e.limit(), e.value()));
    assertTrue(e.getMessage().contains("limits.max-prompt-tokens"), e.getMessage());
    // The engine's own validator has only the context as its limit.
    loop.submit(GenerationRequest.interactive("c", tooLong, image, SamplingParams.greedy(2)))
        .test();
    runToEnd(loop);
    ts.assertComplete();
  }

  @Test
  void aValidatorMadeForAnotherSpecIsRefused() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    RequestValidator foreign =
        new RequestValidator(
            new ModelSpec(Workload.IMAGE_TOKEN, ROWS, 1 << 20, FakeModelRunner.EOS),
            VOCAB,
            1 << 16,
            16);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                loop.submit(
                    GenerationRequest.interactive(
                        "x", new int[] {1, 2}, List.of(), SamplingParams.greedy(5000)),
                    foreign));
    assertFalse(e instanceof RequestRejectedException, "a programming error, not the client's");
  }

  @Test
  void aSlowConsumerStopsOnlyItsOwnSequence() {
    FakeModelRunner runner = new FakeModelRunner(256, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults().withMaxBacklog(4));
    Workload w = new Workload(6, 0, 0);
    GenerationRequest slowReq =
        new GenerationRequest(
            "slow",
            new int[] {1, 5, 6},
            List.of(),
            SamplingParams.builder().maxTokens(100).temperature(0).ignoreEos(true).build(),
            Priority.INTERACTIVE);
    TestSubscriber<TokenEvent> slow = loop.submit(slowReq).test(0);
    List<TestSubscriber<TokenEvent>> fast = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      fast.add(loop.submit(w.next(50, Priority.INTERACTIVE)).test());
    }
    for (int i = 0; i < 200; i++) {
      loop.step();
    }
    for (TestSubscriber<TokenEvent> f : fast) {
      f.assertComplete();
    }
    slow.assertNotComplete();
    assertEquals(0, slow.values().size());
    slow.request(Long.MAX_VALUE);
    runToEnd(loop);
    slow.assertComplete();
    assertEquals(101, slow.values().size());
    assertEquals(0, loop.blockManager().numUsedBlocks());
  }

  @Test
  void interactiveRequestsGoBeforeBatchOnes() {
    FakeModelRunner runner = new FakeModelRunner(256, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults().withMaxNumSeqs(1));
    Workload w = new Workload(7, 0, 0);
    TestSubscriber<TokenEvent> batch = loop.submit(w.next(3, Priority.BATCH)).test();
    TestSubscriber<TokenEvent> interactive = loop.submit(w.next(3, Priority.INTERACTIVE)).test();
    loop.step();
    assertEquals(1, runner.batches.get(0).chunks().size());
    assertTrue(interactive.values().size() > 0, "the interactive request runs first");
    assertTrue(batch.values().isEmpty(), "batch request must wait while interactive work runs");
    runToEnd(loop);
    batch.assertComplete();
    interactive.assertComplete();
  }

  @Test
  void finishEventComesLastAndOnlyOnce() {
    FakeModelRunner runner = new FakeModelRunner(64, 4, VOCAB);
    EngineLoop loop = loop(runner, SchedulerConfig.defaults());
    TestSubscriber<TokenEvent> ts =
        loop.submit(new Workload(8, 0, 0).next(10, Priority.INTERACTIVE)).test();
    runToEnd(loop);
    long finishes = ts.values().stream().filter(e -> e instanceof TokenEvent.Finished).count();
    assertEquals(1, finishes);
    assertInstanceOf(TokenEvent.Finished.class, ts.values().get(ts.values().size() - 1));
  }

  static ScheduledBatch last(FakeModelRunner r) {
    return r.batches.get(r.batches.size() - 1);
  }
}
