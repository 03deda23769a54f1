package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.RequestRejectedException;
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
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.image.RgbImage;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.SamplingParams;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine loop over the tiny llava_next checkpoint: images of different sizes fill different
 * numbers of positions (and tiles), and whatever shares a step every request produces the tokens it
 * produces alone in {@link Generator}; a repeated image of the same size is served from the prefix
 * and feature caches.
 */
class LlavaNextBatchingTest {

  private static final int IMAGE = TinySpec.IMAGE_TOKEN_INDEX;
  private static final int BLOCK = KvCacheConfig.DEFAULT_BLOCK_SIZE;

  /**
   * (height, width): grids of 1 x 2, 2 x 1, 2 x 2 and 1 x 3 tiles (the last so wide that un-padding
   * keeps no grid row), and 3 x 1.
   */
  private static final int[][] SIZES = {{30, 40}, {90, 30}, {150, 100}, {17, 400}, {200, 60}};

  @TempDir static Path dir;

  private static LlavaModel model;
  private static Generator reference;
  private static List<PixelValues> images;
  private static final Map<GenerationRequest, int[]> ALONE = new HashMap<>();

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.next());
    model = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(4L << 20));
    reference = new Generator(model);
    ImagePreprocessor pre =
        new ImagePreprocessor(
            PreprocessConfig.llavaNextDefaults(56, model.config().anyResolution().pinpoints()));
    SplittableRandom rnd = new SplittableRandom(3);
    images = new ArrayList<>();
    for (int[] size : SIZES) {
      byte[] rgb = new byte[size[0] * size[1] * 3];
      for (int i = 0; i < rgb.length; i++) {
        rgb[i] = (byte) rnd.nextInt(256);
      }
      images.add(pre.preprocess(new RgbImage(size[1], size[0], rgb)));
    }
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  @Test
  void imagesOfDifferentSizesBatchedTogetherGiveTheTokensEachGivesAlone() {
    SplittableRandom rnd = new SplittableRandom(21);
    List<GenerationRequest> work = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      List<PixelValues> imgs = new ArrayList<>();
      for (int k = 0; k < i % 3; k++) {
        imgs.add(images.get(rnd.nextInt(images.size())));
      }
      work.add(
          GenerationRequest.interactive(
              "r" + i, prompt(rnd, 3 + rnd.nextInt(20), imgs.size()), imgs, greedy(6)));
    }
    for (GenerationRequest r : work) {
      alone(r);
    }
    // Chunks of 32 positions cut images (up to 88 positions each) in two and more.
    EngineLoop loop = loopOver(SchedulerConfig.defaults().withMaxNumBatchedTokens(32));
    List<TestSubscriber<TokenEvent>> subs = new ArrayList<>();
    int step = 0;
    for (GenerationRequest r : work) {
      subs.add(loop.submit(r).test());
      loop.step(); // staggered arrivals: each joins a batch already running
      BlockManagerInvariants.check(loop.blockManager(), tables(loop));
      step++;
    }
    while (loop.step()) {
      BlockManagerInvariants.check(loop.blockManager(), tables(loop));
      assertTrue(++step < 5_000, "engine did not finish");
    }
    assertEquals(0, loop.stats().kvBlocksUsed());
    for (int i = 0; i < work.size(); i++) {
      GenerationRequest r = work.get(i);
      assertArrayEquals(alone(r), tokens(subs.get(i)), r.requestId() + " differs from alone");
      assertEquals(positions(r), finished(subs.get(i)).usage().promptTokens(), r.requestId());
    }
  }

  @Test
  void aRepeatedImageOfTheSameSizeHitsThePrefixCacheAndCostsNoVision() {
    EngineLoop loop = loopOver(SchedulerConfig.defaults());
    SplittableRandom rnd = new SplittableRandom(8);
    int[] ids = prompt(rnd, 12, 1);
    PixelValues image = images.get(2); // 150 x 100: 72 positions
    GenerationRequest first = GenerationRequest.interactive("a", ids, List.of(image), greedy(8));
    GenerationRequest again = GenerationRequest.interactive("b", ids, List.of(image), greedy(8));
    GenerationRequest other =
        GenerationRequest.interactive("c", ids, List.of(images.get(4)), greedy(8));
    int[] firstAlone = alone(first);
    int[] otherAlone = alone(other);
    TestSubscriber<TokenEvent> a = loop.submit(first).test();
    runToEnd(loop);
    EngineStats before = loop.stats();

    TestSubscriber<TokenEvent> b = loop.submit(again).test();
    runToEnd(loop);
    EngineStats after = loop.stats();

    int n = positions(again);
    assertEquals(13 + 72, n);
    long computed = after.promptTokensComputed() - before.promptTokensComputed();
    assertTrue(computed <= BLOCK, "the repeat computed " + computed + " of " + n + " positions");
    assertEquals(n - computed, finished(b).usage().cachedPromptTokens());
    assertEquals(before.imageCacheMisses(), after.imageCacheMisses(), "no vision work");
    assertArrayEquals(firstAlone, tokens(a));
    assertArrayEquals(firstAlone, tokens(b));

    // Another image (another size, another digest) shares no block that holds image rows.
    TestSubscriber<TokenEvent> c = loop.submit(other).test();
    runToEnd(loop);
    assertTrue(finished(c).usage().cachedPromptTokens() < BLOCK);
    assertEquals(after.imageCacheMisses() + 1, loop.stats().imageCacheMisses());
    assertArrayEquals(otherAlone, tokens(c));
    assertFalse(java.util.Arrays.equals(firstAlone, otherAlone), "the image must matter");
  }

  @Test
  void admissionCountsEachImageAtItsOwnSizeAndRefusesTilesThatDisagree() {
    RequestValidator validator =
        new RequestValidator(
            LlavaEngine.specOf(model),
            model.runner().vocabSize(),
            model.runner().kvCache().numBlocks(),
            BLOCK);
    int[] ids = {1, 5, IMAGE, 7, IMAGE, 9};
    List<PixelValues> two = List.of(images.get(0), images.get(3));
    // 30 x 40 in 56 x 112: a 4 x 8 map un-padded to 4 x 6, so 16 + 24 + 4 newlines.
    assertEquals(44, model.config().imagePositions(30, 40));
    int expected = 4 + 44 + 16;
    assertEquals(expected, validator.promptPositions(ids, two));
    assertEquals(
        expected,
        validator.validate(GenerationRequest.interactive("v", ids, two, greedy(4))).length());
    assertEquals(16, model.config().imagePositions(17, 400), "only the base tile's features");

    PixelValues oneTile = PixelValues.of(3, 56, 56, new float[3 * 56 * 56]);
    RequestRejectedException e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                validator.validate(
                    GenerationRequest.interactive(
                        "w", ids, List.of(images.get(0), oneTile), greedy(4))));
    assertEquals("images", e.field());
    assertTrue(e.getMessage().contains("image 1"), e.getMessage());
  }

  // ---- helpers ----

  /** BOS, text, and {@code images} image tokens spread through it. */
  private static int[] prompt(SplittableRandom rnd, int text, int images) {
    int[] ids = new int[1 + text + images];
    ids[0] = 1;
    for (int i = 1; i < ids.length; i++) {
      ids[i] = 3 + rnd.nextInt(31_000);
    }
    for (int k = 0; k < images; k++) {
      ids[2 + k * (text / Math.max(1, images))] = IMAGE;
    }
    return ids;
  }

  /** The prompt's positions: text, and each image at its own size's count. */
  private static int positions(GenerationRequest r) {
    int n = r.promptIds().length - r.images().size();
    for (PixelValues p : r.images()) {
      n += model.config().imagePositions(p.imageHeight(), p.imageWidth());
    }
    return n;
  }

  private static SamplingParams greedy(int maxTokens) {
    return SamplingParams.builder().temperature(0).ignoreEos(true).maxTokens(maxTokens).build();
  }

  private static EngineLoop loopOver(SchedulerConfig sc) {
    return new EngineLoop(
        model.runner(),
        model.tokenizer(),
        LlavaEngine.specOf(model),
        EngineConfig.defaults().withScheduler(sc));
  }

  private static void runToEnd(EngineLoop loop) {
    int guard = 0;
    while (loop.step()) {
      assertTrue(++guard < 5_000, "engine did not finish");
    }
  }

  /** Greedy tokens of {@code r} alone; the generator owns the model's whole pool, so first. */
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
