package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.kvcache.BlockManagerInvariants;
import io.llavaserve.batching.kvcache.BlockTable;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.batching.scheduler.Sequence;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.sampling.constraint.Grammar;
import io.llavaserve.engine.sampling.constraint.JsonSchemaGrammar;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine loop over the real tiny LLaVA (TensorFlow runner), driven step by step on the test
 * thread: whatever shares a step, whatever is cached or preempted, every request must produce the
 * tokens it produces alone in {@link Generator}.
 */
class RealModelBatchingTest {

  private static final int IMAGE = TinySpec.IMAGE_TOKEN_INDEX;
  private static final int BLOCK = KvCacheConfig.DEFAULT_BLOCK_SIZE;

  /** 512 blocks: room for every request at once. */
  private static final long ROOMY_KV_BYTES = 4L << 20;

  /** 20 blocks (320 positions): a few requests at a time, so the scheduler must preempt. */
  private static final int SMALL_BLOCKS = 20;

  @TempDir static Path dir;

  private static LlavaModel roomy;
  private static LlavaModel small;
  private static Generator reference;
  private static List<PixelValues> images;
  private static final Map<GenerationRequest, int[]> ALONE = new HashMap<>();

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    roomy = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(ROOMY_KV_BYTES));
    long blockBytes = KvCacheConfig.bytesPerBlock(roomy.config().text(), BLOCK);
    small =
        LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(SMALL_BLOCKS * blockBytes));
    assertEquals(SMALL_BLOCKS, small.runner().kvCache().numBlocks());
    reference = new Generator(roomy);
    SplittableRandom rnd = new SplittableRandom(7);
    images = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      images.add(randomImage(rnd));
    }
  }

  @AfterAll
  static void close() {
    if (small != null) {
      small.close();
    }
    if (roomy != null) {
      roomy.close();
    }
  }

  @Test
  void thirtyTwoStaggeredRequestsMatchTheirRunsAlone() {
    List<Arrival> work = workload(32, 11, 25);
    Run run = drive(roomy, SchedulerConfig.defaults(), work);
    run.assertEachMatchesAlone();
    assertEquals(0, run.loop.stats().kvBlocksUsed());
    assertTrue(run.loop.stats().prefixHitTokens() > 0, "shared system prompt must hit the cache");
    assertTrue(run.loop.stats().imageCacheHits() > 0, "shared images must hit the feature cache");
  }

  @Test
  void chunkedPrefillWithImagesAcrossChunkBoundariesMatchesRunsAlone() {
    List<Arrival> work = workload(32, 12, 25);
    Run run = drive(roomy, SchedulerConfig.defaults().withMaxNumBatchedTokens(64), work);
    run.assertEachMatchesAlone();
    assertTrue(run.imageCutByAChunk, "some image must straddle a chunk boundary");
    assertEquals(0, run.loop.stats().kvBlocksUsed());
  }

  @Test
  void aPoolSoSmallThatTheSchedulerPreemptsStillGivesTheSameTokens() {
    List<Arrival> work = workload(32, 13, 25);
    Run run = drive(small, SchedulerConfig.defaults().withMaxNumBatchedTokens(64), work);
    run.assertEachMatchesAlone();
    EngineStats stats = run.loop.stats();
    assertTrue(stats.preemptions() > 0, "expected preemptions, stats " + stats);
    assertEquals(0, stats.kvBlocksUsed());
    assertEquals(32, stats.requestsFinished());
  }

  @Test
  void aRepeatedImageAndPrefixCostsAtMostOneBlockAndNoVision() {
    EngineLoop loop = loopOver(roomy, SchedulerConfig.defaults());
    // 10 text positions, the image at 10..25, then 4 text: 30 positions. The cache can serve at
    // most the first block (the last position is always computed), which holds part of the image,
    // so the rest of the image still needs its features, from the feature cache.
    int[] prompt = {
      1, 319, 1781, 338, 263, 29871, 5642, 1967, 310, 278, IMAGE, 13, 22933, 9047, 29901
    };
    List<PixelValues> imgs = List.of(images.get(0));
    GenerationRequest first = GenerationRequest.interactive("first", prompt, imgs, greedy(12));
    GenerationRequest other =
        GenerationRequest.interactive("other", prompt, List.of(images.get(1)), greedy(12));
    // References first: the generator overwrites the model's whole pool, cached blocks included.
    int[] firstAlone = alone(first);
    int[] otherAlone = alone(other);
    TestSubscriber<TokenEvent> a = loop.submit(first).test();
    runToEnd(loop);
    EngineStats before = loop.stats();

    GenerationRequest second = GenerationRequest.interactive("second", prompt, imgs, greedy(12));
    TestSubscriber<TokenEvent> b = loop.submit(second).test();
    runToEnd(loop);
    EngineStats after = loop.stats();

    long computed = after.promptTokensComputed() - before.promptTokensComputed();
    assertTrue(computed <= BLOCK, "second prefill computed " + computed + " positions");
    assertEquals(30 - computed, finished(b).usage().cachedPromptTokens());
    assertEquals(30, finished(b).usage().promptTokens());
    assertEquals(before.imageCacheMisses(), after.imageCacheMisses(), "no vision work");
    assertTrue(after.imageCacheHits() > before.imageCacheHits(), "features from the cache");
    assertArrayEquals(tokens(a), tokens(b));
    assertArrayEquals(firstAlone, tokens(a));

    // The same ids with another image share no block: the first block already holds image rows.
    TestSubscriber<TokenEvent> c = loop.submit(other).test();
    runToEnd(loop);
    assertEquals(0, finished(c).usage().cachedPromptTokens());
    assertEquals(before.imageCacheMisses() + 1, loop.stats().imageCacheMisses());
    assertArrayEquals(otherAlone, tokens(c));
    assertFalse(Arrays.equals(tokens(a), tokens(c)), "the image must change the answer");
  }

  @Test
  void cachedPromptTokensReportWhatTheAdmissionReusedNotAnEarlierFailedLookup() {
    EngineLoop loop = loopOver(small, SchedulerConfig.defaults());
    SplittableRandom rnd = new SplittableRandom(17);
    int[] system = randomText(rnd, 2 * BLOCK);
    system[0] = 1;
    // A takes 15 of the 20 blocks; B, arriving with it, must wait for A to finish. When B first
    // tries, A's system prompt is not computed yet; when B is admitted, it is cached.
    GenerationRequest a =
        GenerationRequest.interactive(
            "a", concat(system, randomText(rnd, 200)), List.of(), greedy(8));
    GenerationRequest b =
        GenerationRequest.interactive(
            "b", concat(system, randomText(rnd, 100)), List.of(), greedy(8));
    int[] aAlone = alone(a);
    int[] bAlone = alone(b);
    TestSubscriber<TokenEvent> ta = loop.submit(a).test();
    TestSubscriber<TokenEvent> tb = loop.submit(b).test();
    runToEnd(loop);
    assertArrayEquals(aAlone, tokens(ta));
    assertArrayEquals(bAlone, tokens(tb));
    long bComputed = loop.stats().promptTokensComputed() - 232;
    assertEquals(132 - 2 * BLOCK, bComputed, "B reuses A's system prompt");
    assertEquals(2 * BLOCK, finished(tb).usage().cachedPromptTokens());
  }

  private static int[] concat(int[] x, int[] y) {
    int[] out = Arrays.copyOf(x, x.length + y.length);
    System.arraycopy(y, 0, out, x.length, y.length);
    return out;
  }

  @Test
  void cancellingMidStreamFreesItsBlocksAndLeavesTheOthersAlone() {
    EngineLoop loop = loopOver(roomy, SchedulerConfig.defaults().withMaxNumBatchedTokens(64));
    List<Arrival> work = workload(6, 14, 0);
    List<TestSubscriber<TokenEvent>> subs = new ArrayList<>();
    for (Arrival a : work) {
      subs.add(loop.submit(a.request).test());
    }
    // Step until the first request streams and the last is still prefilling (chunked).
    int guard = 0;
    while (subs.get(0).values().size() < 3) {
      loop.step();
      assertTrue(++guard < 200);
    }
    TestSubscriber<TokenEvent> cancelled = subs.get(0);
    int blocksHeld = tableOf(loop, work.get(0).request).numBlocks();
    assertTrue(blocksHeld > 0);
    cancelled.cancel();
    loop.step();
    assertTrue(loop.liveSequences().stream().noneMatch(s -> s.request() == work.get(0).request));
    BlockManagerInvariants.check(loop.blockManager(), tables(loop));
    assertEquals(distinctBlocks(loop), loop.blockManager().numUsedBlocks());

    // Cancel one more in the middle of the run, then let the rest finish.
    loop.step();
    subs.get(3).cancel();
    runToEnd(loop);
    assertEquals(0, loop.stats().kvBlocksUsed());
    for (int i = 0; i < work.size(); i++) {
      if (i == 0 || i == 3) {
        continue;
      }
      subs.get(i).assertComplete();
      assertArrayEquals(
          alone(work.get(i).request), tokens(subs.get(i)), work.get(i).request.requestId());
    }
  }

  @Test
  void cancellingEverythingMidPrefillReturnsEveryBlockAtTheNextStep() {
    EngineLoop loop = loopOver(roomy, SchedulerConfig.defaults().withMaxNumBatchedTokens(64));
    List<TestSubscriber<TokenEvent>> subs = new ArrayList<>();
    for (Arrival a : workload(5, 15, 0)) {
      subs.add(loop.submit(a.request).test());
    }
    loop.step();
    loop.step();
    assertTrue(loop.blockManager().numUsedBlocks() > 0);
    subs.forEach(TestSubscriber::cancel);
    loop.step();
    assertEquals(0, loop.blockManager().numUsedBlocks());
    assertEquals(0, loop.stats().kvBlocksUsed());
    assertTrue(loop.liveSequences().isEmpty());
  }

  @Test
  void seededSamplingGivesTheSameTokensInABatchAsAlone() {
    SplittableRandom rnd = new SplittableRandom(16);
    List<Arrival> work = new ArrayList<>();
    for (Arrival a : workload(10, 16, 6)) {
      SamplingParams p =
          SamplingParams.builder()
              .temperature(0.8)
              .seed(1000 + rnd.nextInt(1000))
              .maxTokens(a.request.sampling().maxTokens())
              .build();
      GenerationRequest r =
          GenerationRequest.interactive(
              a.request.requestId(), a.request.promptIds(), a.request.images(), p);
      work.add(new Arrival(a.step, r));
    }
    Run run = drive(roomy, SchedulerConfig.defaults().withMaxNumBatchedTokens(64), work);
    run.assertEachMatchesAlone();
  }

  @Test
  void constrainedRequestsBesideFreeOnesUnderPreemptionMatchTheirRunsAloneAndParse()
      throws Exception {
    Grammar point =
        JsonSchemaGrammar.compile(
            new ObjectMapper()
                .readTree(
                    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"},"
                        + "\"tag\":{\"type\":\"string\",\"maxLength\":5},"
                        + "\"ok\":{\"type\":\"boolean\"}},\"required\":[\"x\",\"tag\",\"ok\"]}"),
            "schema");
    Grammar anyObject = JsonSchemaGrammar.anyObject();
    SplittableRandom rnd = new SplittableRandom(18);
    List<Arrival> work = new ArrayList<>();
    for (Arrival a : workload(24, 18, 10)) {
      int kind = work.size() % 3;
      SamplingParams.Builder p = a.request.sampling().toBuilder().maxTokens(kind == 2 ? 24 : 160);
      if (kind == 0) {
        p.grammar(point);
      } else if (kind == 1) {
        // Greedy too: a preempted sequence is recomputed by prefill, whose stock attention ops may
        // sum in another order than the decode kernel (seen on an AMD EPYC with AVX-512: one
        // sampled token of 24 requests moved to its neighbour id). Seeded sampling in a batch is
        // seededSamplingGivesTheSameTokensInABatchAsAlone's.
        p.grammar(anyObject).seed(rnd.nextInt(1000));
      }
      work.add(
          new Arrival(
              a.step,
              GenerationRequest.interactive(
                  a.request.requestId(), a.request.promptIds(), a.request.images(), p.build())));
    }
    Run run = drive(small, SchedulerConfig.defaults().withMaxNumBatchedTokens(64), work);
    run.assertEachMatchesAlone();
    assertTrue(run.loop.stats().preemptions() > 0, "expected preemptions");
    int parsed = 0;
    for (int i = 0; i < work.size(); i++) {
      TokenEvent.Finished f = finished(run.subs.get(i));
      if (work.get(i).request.sampling().grammar().isPresent() && f.reason() == FinishReason.STOP) {
        StringBuilder text = new StringBuilder();
        run.subs.get(i).values().stream()
            .filter(e -> e instanceof TokenEvent.Token)
            .forEach(e -> text.append(((TokenEvent.Token) e).text()));
        text.append(f.text());
        JsonNode value = new ObjectMapper().readTree(text.toString());
        assertTrue(value.isObject(), text.toString());
        if (i % 3 == 0) {
          assertTrue(
              value.get("x").isIntegralNumber() && value.get("ok").isBoolean(), text.toString());
        }
        parsed++;
      }
    }
    assertTrue(parsed >= 8, "only " + parsed + " constrained answers were complete");
  }

  // ---- workload ----

  /** A request and the step before which it is submitted. */
  private record Arrival(int step, GenerationRequest request) {}

  /**
   * {@code n} greedy requests: half start with one long shared system prompt, a third carry one
   * image and a third two (of four distinct images, so images repeat), with varied text around them
   * and max_tokens in 8..40, arriving at random steps in [0, lastArrival].
   */
  private static List<Arrival> workload(int n, long seed, int lastArrival) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] system = randomText(rnd, 45);
    system[0] = 1;
    List<Arrival> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<Integer> ids = new ArrayList<>();
      if (i % 2 == 0) {
        for (int t : system) {
          ids.add(t);
        }
      } else {
        ids.add(1);
      }
      int numImages = i % 3;
      List<PixelValues> imgs = new ArrayList<>();
      int textLength = 1 + rnd.nextInt(60);
      int[] text = randomText(rnd, textLength);
      int[] imageAt = new int[numImages];
      for (int k = 0; k < numImages; k++) {
        imageAt[k] = rnd.nextInt(textLength);
        imgs.add(images.get(rnd.nextInt(images.size())));
      }
      Arrays.sort(imageAt);
      int k = 0;
      for (int j = 0; j < textLength; j++) {
        while (k < numImages && imageAt[k] == j) {
          ids.add(IMAGE);
          k++;
        }
        ids.add(text[j]);
      }
      int[] prompt = ids.stream().mapToInt(Integer::intValue).toArray();
      GenerationRequest r =
          GenerationRequest.interactive("r" + i, prompt, imgs, greedy(8 + rnd.nextInt(33)));
      out.add(new Arrival(lastArrival == 0 ? 0 : rnd.nextInt(lastArrival + 1), r));
    }
    return out;
  }

  private static int[] randomText(SplittableRandom rnd, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = 3 + rnd.nextInt(31_000);
    }
    return t;
  }

  private static PixelValues randomImage(SplittableRandom rnd) {
    int side = TinySpec.tiny().imageSize();
    float[] data = new float[3 * side * side];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (rnd.nextDouble() * 4 - 2);
    }
    return PixelValues.of(3, side, side, data);
  }

  private static SamplingParams greedy(int maxTokens) {
    return SamplingParams.builder().temperature(0).ignoreEos(false).maxTokens(maxTokens).build();
  }

  // ---- driving the loop ----

  private static EngineLoop loopOver(LlavaModel model, SchedulerConfig sc) {
    return new EngineLoop(
        model.runner(),
        model.tokenizer(),
        LlavaEngine.specOf(model),
        EngineConfig.defaults().withScheduler(sc));
  }

  /** What one driven workload produced. */
  private static final class Run {
    final EngineLoop loop;
    final List<Arrival> work;
    final List<TestSubscriber<TokenEvent>> subs = new ArrayList<>();
    boolean imageCutByAChunk;

    Run(EngineLoop loop, List<Arrival> work) {
      this.loop = loop;
      this.work = work;
    }

    void assertEachMatchesAlone() {
      for (int i = 0; i < work.size(); i++) {
        GenerationRequest r = work.get(i).request;
        TestSubscriber<TokenEvent> ts = subs.get(i);
        ts.assertComplete();
        TokenEvent.Finished f = finished(ts);
        assertTrue(
            f.reason() == FinishReason.LENGTH || f.reason() == FinishReason.STOP,
            r.requestId() + " finished with " + f);
        assertArrayEquals(alone(r), tokens(ts), r.requestId() + " differs from its run alone");
      }
    }
  }

  /**
   * Computes every reference first (the generator owns the whole pool of its model), then submits
   * each request before its arrival step and steps until all are done, checking the block manager's
   * invariants after every step.
   */
  private static Run drive(LlavaModel model, SchedulerConfig sc, List<Arrival> work) {
    for (Arrival a : work) {
      alone(a.request);
    }
    EngineLoop loop = loopOver(model, sc);
    Run run = new Run(loop, work);
    for (int i = 0; i < work.size(); i++) {
      run.subs.add(null);
    }
    int step = 0;
    int submitted = 0;
    while (true) {
      for (int i = 0; i < work.size(); i++) {
        if (work.get(i).step == step) {
          run.subs.set(i, loop.submit(work.get(i).request).test());
          submitted++;
        }
      }
      Map<Long, Integer> computedBefore = new HashMap<>();
      for (Sequence s : loop.liveSequences()) {
        computedBefore.put(s.id(), s.numComputedTokens());
      }
      boolean ran = loop.step();
      for (Sequence s : loop.liveSequences()) {
        Integer from = computedBefore.get(s.id());
        if (from != null && cutsAnImage(s, from, s.numComputedTokens())) {
          run.imageCutByAChunk = true;
        }
      }
      BlockManagerInvariants.check(loop.blockManager(), tables(loop));
      step++;
      if (!ran && submitted == work.size()) {
        break;
      }
      assertTrue(step < 20_000, "engine did not finish");
    }
    return run;
  }

  /** Whether a chunk [from, to) ends inside an image of the prompt. */
  private static boolean cutsAnImage(Sequence s, int from, int to) {
    return to > from
        && to < s.promptLength()
        && s.imageDigestAt(to - 1) != null
        && s.imageDigestAt(to) != null
        && s.imageRowAt(to) > 0;
  }

  private static void runToEnd(EngineLoop loop) {
    int guard = 0;
    while (loop.step()) {
      assertTrue(++guard < 20_000, "engine did not finish");
    }
  }

  private static int[] alone(GenerationRequest r) {
    return ALONE.computeIfAbsent(
        r,
        k ->
            reference.generate(k.promptIds(), k.images(), k.sampling(), s -> {}).tokens().stream()
                .mapToInt(SampledToken::tokenId)
                .toArray());
  }

  private static List<BlockTable> tables(EngineLoop loop) {
    List<BlockTable> t = new ArrayList<>();
    for (Sequence s : loop.liveSequences()) {
      t.add(s.blockTable());
    }
    return t;
  }

  private static BlockTable tableOf(EngineLoop loop, GenerationRequest r) {
    return loop.liveSequences().stream()
        .filter(s -> s.request() == r)
        .findFirst()
        .orElseThrow()
        .blockTable();
  }

  private static int distinctBlocks(EngineLoop loop) {
    return (int)
        loop.liveSequences().stream()
            .flatMapToInt(s -> Arrays.stream(s.blockTable().blockIds()))
            .distinct()
            .count();
  }

  private static int[] tokens(TestSubscriber<TokenEvent> ts) {
    return ts.values().stream()
        .filter(e -> e instanceof TokenEvent.Token)
        .mapToInt(e -> ((TokenEvent.Token) e).tokenId())
        .toArray();
  }

  private static TokenEvent.Finished finished(TestSubscriber<TokenEvent> ts) {
    List<TokenEvent> v = ts.values();
    assertFalse(v.isEmpty());
    return (TokenEvent.Finished) v.get(v.size() - 1);
  }
}
