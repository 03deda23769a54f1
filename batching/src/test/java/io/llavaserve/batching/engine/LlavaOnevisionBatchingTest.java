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
 * The engine loop over the tiny llava_onevision checkpoint: a prompt's lone image is tiled and
 * fills what its size gives (its map reduced past 9 tiles' worth), the images of a prompt with
 * several fill one tile and a newline each; whatever shares a step, every request produces the
 * tokens (and, within float32 error, the log-probabilities) it produces alone in {@link Generator};
 * a repeated reduced image is served from the prefix and feature caches. The tiny Qwen2 decoder's
 * greedy tokens hardly vary, so the log-probabilities carry the checks that an image reaches the
 * model.
 */
class LlavaOnevisionBatchingTest {

  private static final int IMAGE = TinySpec.IMAGE_TOKEN_INDEX;
  private static final int BLOCK = KvCacheConfig.DEFAULT_BLOCK_SIZE;

  /**
   * (height, width): 360 x 360 (6 x 6 tiles, reduced to 12 x 12: 172 positions), 240 x 300 (4 x 5,
   * reduced to 10 x 13: 156), 130 x 330 (3 x 6, un-padded and reduced to 7 x 18: 149), 45 x 70 (1 x
   * 2, kept: 44), 17 x 400 (1 x 6, a two-row strip: 66).
   */
  private static final int[][] SIZES = {{360, 360}, {240, 300}, {130, 330}, {45, 70}, {17, 400}};

  @TempDir static Path dir;

  private static LlavaModel model;
  private static Generator reference;
  private static ImagePreprocessor pre;
  private static List<RgbImage> pictures;
  private static final Map<GenerationRequest, List<SampledToken>> ALONE = new HashMap<>();

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.onevision());
    model = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(4L << 20));
    reference = new Generator(model);
    pre =
        new ImagePreprocessor(
            PreprocessConfig.onevisionDefaults(60, model.config().anyResolution().pinpoints()));
    SplittableRandom rnd = new SplittableRandom(3);
    pictures = new ArrayList<>();
    for (int[] size : SIZES) {
      byte[] rgb = new byte[size[0] * size[1] * 3];
      for (int i = 0; i < rgb.length; i++) {
        rgb[i] = (byte) rnd.nextInt(256);
      }
      pictures.add(new RgbImage(size[1], size[0], rgb));
    }
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  /** {@code count} pictures drawn at random, preprocessed as the images of one prompt. */
  private static List<PixelValues> imagesOfOnePrompt(SplittableRandom rnd, int count) {
    List<PixelValues> out = new ArrayList<>();
    for (int k = 0; k < count; k++) {
      out.add(pre.preprocess(pictures.get(rnd.nextInt(pictures.size())), count));
    }
    return out;
  }

  @Test
  void requestsWithImagesOfDifferentSizesAndCountsBatchedTogetherGiveTheTokensEachGivesAlone() {
    SplittableRandom rnd = new SplittableRandom(21);
    List<GenerationRequest> work = new ArrayList<>();
    int reduced = 0;
    int amongSeveral = 0;
    for (int i = 0; i < 12; i++) {
      List<PixelValues> imgs = imagesOfOnePrompt(rnd, i % 3);
      for (PixelValues p : imgs) {
        if (p.tiles() == 1) {
          amongSeveral++;
        } else if (model
            .config()
            .anyResolution()
            .layout(p.imageHeight(), p.imageWidth())
            .reduced()) {
          reduced++;
        }
      }
      work.add(
          GenerationRequest.interactive(
              "r" + i, prompt(rnd, 3 + rnd.nextInt(20), imgs.size()), imgs, greedy(6)));
    }
    assertTrue(reduced >= 2 && amongSeveral >= 4, reduced + " reduced, " + amongSeveral);
    for (GenerationRequest r : work) {
      alone(r);
    }
    // Chunks of 32 positions cut images (up to 172 positions each) in several.
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
      assertArrayEquals(
          aloneLogprobs(r), logprobs(subs.get(i)), 1e-3f, r.requestId() + "'s log-probabilities");
      assertEquals(positions(r), finished(subs.get(i)).usage().promptTokens(), r.requestId());
    }
  }

  @Test
  void aRepeatedReducedImageHitsThePrefixCacheAndCostsNoVision() {
    EngineLoop loop = loopOver(SchedulerConfig.defaults());
    SplittableRandom rnd = new SplittableRandom(8);
    int[] ids = prompt(rnd, 12, 1);
    PixelValues image = pre.preprocess(pictures.get(1)); // 240 x 300: 156 positions
    PixelValues smaller = pre.preprocess(pictures.get(3)); // 45 x 70: 44
    GenerationRequest first = GenerationRequest.interactive("a", ids, List.of(image), greedy(8));
    GenerationRequest again = GenerationRequest.interactive("b", ids, List.of(image), greedy(8));
    GenerationRequest other = GenerationRequest.interactive("c", ids, List.of(smaller), greedy(8));
    int[] firstAlone = alone(first);
    int[] otherAlone = alone(other);
    TestSubscriber<TokenEvent> a = loop.submit(first).test();
    runToEnd(loop);
    EngineStats before = loop.stats();

    TestSubscriber<TokenEvent> b = loop.submit(again).test();
    runToEnd(loop);
    EngineStats after = loop.stats();

    int n = positions(again);
    assertEquals(13 + 156, n);
    long computed = after.promptTokensComputed() - before.promptTokensComputed();
    assertTrue(computed <= BLOCK, "the repeat computed " + computed + " of " + n + " positions");
    assertEquals(n - computed, finished(b).usage().cachedPromptTokens());
    assertEquals(before.imageCacheMisses(), after.imageCacheMisses(), "no vision work");
    assertArrayEquals(firstAlone, tokens(a));
    assertArrayEquals(firstAlone, tokens(b));

    TestSubscriber<TokenEvent> c = loop.submit(other).test();
    runToEnd(loop);
    assertTrue(finished(c).usage().cachedPromptTokens() < BLOCK);
    assertEquals(after.imageCacheMisses() + 1, loop.stats().imageCacheMisses());
    assertArrayEquals(otherAlone, tokens(c));
    assertArrayEquals(aloneLogprobs(again), logprobs(b), 1e-3f);
    float firstLogprob = aloneLogprobs(first)[0];
    float otherLogprob = aloneLogprobs(other)[0];
    assertTrue(
        Math.abs(firstLogprob - otherLogprob) > 1e-3,
        "the image must matter: " + firstLogprob + " vs " + otherLogprob);
  }

  @Test
  void admissionCountsALoneImageTiledAndEachOfSeveralAsOneTileAndRefusesTheOtherWayRound() {
    RequestValidator validator =
        new RequestValidator(
            LlavaEngine.specOf(model),
            model.runner().vocabSize(),
            model.runner().kvCache().numBlocks(),
            BLOCK);
    int[] one = {1, 5, IMAGE, 7};
    int[] two = {1, 5, IMAGE, 7, IMAGE, 9};
    PixelValues alone = pre.preprocess(pictures.get(0), 1);
    PixelValues firstOfTwo = pre.preprocess(pictures.get(0), 2);
    PixelValues secondOfTwo = pre.preprocess(pictures.get(4), 2);
    assertEquals(37, alone.tiles());
    assertEquals(1, firstOfTwo.tiles());
    assertEquals(16 + 12 * 12 + 12, model.config().imagePositions(360, 360));
    assertEquals(3 + 172, validator.promptPositions(one, List.of(alone)));
    assertEquals(
        3 + 172,
        validator
            .validate(GenerationRequest.interactive("v", one, List.of(alone), greedy(4)))
            .length());
    // Two images: 16 features and a newline each, whatever their sizes.
    List<PixelValues> pair = List.of(firstOfTwo, secondOfTwo);
    assertEquals(4 + 17 + 17, validator.promptPositions(two, pair));
    assertEquals(
        4 + 17 + 17,
        validator.validate(GenerationRequest.interactive("w", two, pair, greedy(4))).length());

    RequestRejectedException e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                validator.validate(
                    GenerationRequest.interactive("x", one, List.of(firstOfTwo), greedy(4))));
    assertEquals("images", e.field());
    assertTrue(e.getMessage().contains("only image is tiled"), e.getMessage());
    e =
        assertThrows(
            RequestRejectedException.class,
            () ->
                validator.validate(
                    GenerationRequest.interactive(
                        "y", two, List.of(firstOfTwo, alone), greedy(4))));
    assertTrue(e.getMessage().contains("image 1"), e.getMessage());
    assertTrue(e.getMessage().contains("runs as one"), e.getMessage());
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

  /** The prompt's positions: text, and each image as its tiles and size give. */
  private static int positions(GenerationRequest r) {
    int n = r.promptIds().length - r.images().size();
    for (PixelValues p : r.images()) {
      n +=
          p.tiles() == 1
              ? model.config().imageSeqLength() + 1
              : model.config().imagePositions(p.imageHeight(), p.imageWidth());
    }
    return n;
  }

  private static SamplingParams greedy(int maxTokens) {
    return SamplingParams.builder()
        .temperature(0)
        .ignoreEos(true)
        .maxTokens(maxTokens)
        .logprobs(0)
        .build();
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
    return aloneTokens(r).stream().mapToInt(SampledToken::tokenId).toArray();
  }

  private static float[] aloneLogprobs(GenerationRequest r) {
    List<SampledToken> t = aloneTokens(r);
    float[] out = new float[t.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = t.get(i).logprob();
    }
    return out;
  }

  private static List<SampledToken> aloneTokens(GenerationRequest r) {
    return ALONE.computeIfAbsent(
        r, k -> reference.generate(k.promptIds(), k.images(), k.sampling(), s -> {}).tokens());
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

  private static float[] logprobs(TestSubscriber<TokenEvent> ts) {
    List<Float> out = new ArrayList<>();
    for (TokenEvent e : ts.values()) {
      if (e instanceof TokenEvent.Token t) {
        out.add(t.logprob());
      }
    }
    float[] a = new float[out.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = out.get(i);
    }
    return a;
  }

  private static TokenEvent.Finished finished(TestSubscriber<TokenEvent> ts) {
    List<TokenEvent> v = ts.values();
    assertFalse(v.isEmpty());
    return (TokenEvent.Finished) v.get(v.size() - 1);
  }
}
