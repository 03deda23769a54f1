package io.llavaserve.batching.integration;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The threaded engine over the real tiny model, as the web layer uses it: several threads submit at
 * once and block on their streams; one client walks away after a few tokens.
 */
class ThreadedEngineRealModelTest {

  private static final int IMAGE = TinySpec.IMAGE_TOKEN_INDEX;

  @TempDir static Path dir;

  private static LlavaModel model;

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    model = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(2L << 20));
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  @Test
  void concurrentSubmittersGetTheTokensOfTheirRunsAlone() throws Exception {
    List<GenerationRequest> requests = requests(16);
    // The generator owns the model's pool while it runs, so the references come first.
    Generator generator = new Generator(model);
    List<int[]> alone = new ArrayList<>();
    for (GenerationRequest r : requests) {
      alone.add(
          generator.generate(r.promptIds(), r.images(), r.sampling(), s -> {}).tokens().stream()
              .mapToInt(SampledToken::tokenId)
              .toArray());
    }

    SchedulerConfig sc = SchedulerConfig.defaults().withMaxNumBatchedTokens(64);
    ExecutorService clients = Executors.newFixedThreadPool(4);
    try (LlavaEngine engine = LlavaEngine.start(model, EngineConfig.defaults().withScheduler(sc))) {
      List<Future<List<TokenEvent>>> results = new ArrayList<>();
      for (GenerationRequest r : requests) {
        results.add(clients.submit(() -> engine.submit(r).toList().blockingGet()));
      }
      // A client that leaves after three tokens: take(3) cancels the subscription.
      Future<List<TokenEvent>> leaver =
          clients.submit(() -> engine.submit(longRequest()).take(3).toList().blockingGet());

      for (int i = 0; i < requests.size(); i++) {
        List<TokenEvent> events = results.get(i).get(60, TimeUnit.SECONDS);
        TokenEvent.Finished f = (TokenEvent.Finished) events.get(events.size() - 1);
        assertTrue(
            f.reason() == FinishReason.LENGTH || f.reason() == FinishReason.STOP, f.toString());
        assertArrayEquals(alone.get(i), tokenIds(events), requests.get(i).requestId());
      }
      assertEquals(3, leaver.get(60, TimeUnit.SECONDS).size());

      EngineStats stats = awaitIdle(engine, requests.size() + 1);
      assertEquals(0, stats.kvBlocksUsed(), stats.toString());
      assertEquals(0, stats.running());
      long completions = alone.stream().mapToLong(a -> a.length).sum();
      assertTrue(
          stats.tokensGenerated() < completions + 200,
          "the leaver must stop early: "
              + stats.tokensGenerated()
              + " tokens for "
              + completions
              + " + 200");
    } finally {
      clients.shutdownNow();
    }
  }

  /** Polls the published stats until every request has finished (stats follow each step). */
  private static EngineStats awaitIdle(LlavaEngine engine, int requests)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    EngineStats s = engine.stats();
    while ((s.requestsFinished() < requests || s.kvBlocksUsed() > 0)
        && System.nanoTime() < deadline) {
      Thread.sleep(10);
      s = engine.stats();
    }
    return s;
  }

  private static int[] tokenIds(List<TokenEvent> events) {
    return events.stream()
        .filter(e -> e instanceof TokenEvent.Token)
        .mapToInt(e -> ((TokenEvent.Token) e).tokenId())
        .toArray();
  }

  /** Requests with a shared system prompt on every other one, and 0 to 2 of three images. */
  private static List<GenerationRequest> requests(int n) {
    SplittableRandom rnd = new SplittableRandom(21);
    List<PixelValues> images = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      images.add(image(rnd));
    }
    int[] system = text(rnd, 40);
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<Integer> ids = new ArrayList<>();
      ids.add(1);
      if (i % 2 == 0) {
        for (int t : system) {
          ids.add(t);
        }
      }
      List<PixelValues> imgs = new ArrayList<>();
      for (int k = 0; k < i % 3; k++) {
        ids.add(IMAGE);
        imgs.add(images.get(rnd.nextInt(images.size())));
        for (int t : text(rnd, 1 + rnd.nextInt(12))) {
          ids.add(t);
        }
      }
      for (int t : text(rnd, 1 + rnd.nextInt(30))) {
        ids.add(t);
      }
      SamplingParams p =
          SamplingParams.builder().temperature(0).maxTokens(8 + rnd.nextInt(25)).build();
      out.add(
          GenerationRequest.interactive(
              "t" + i, ids.stream().mapToInt(Integer::intValue).toArray(), imgs, p));
    }
    return out;
  }

  private static GenerationRequest longRequest() {
    return GenerationRequest.interactive(
        "leaver",
        new int[] {1, 450, 4996, 17354, 1701, 29916},
        List.of(),
        SamplingParams.builder().temperature(0).maxTokens(200).ignoreEos(true).build());
  }

  private static int[] text(SplittableRandom rnd, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = 3 + rnd.nextInt(31_000);
    }
    return t;
  }

  private static PixelValues image(SplittableRandom rnd) {
    int side = TinySpec.tiny().imageSize();
    float[] data = new float[3 * side * side];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (rnd.nextDouble() * 4 - 2);
    }
    return PixelValues.of(3, side, side, data);
  }
}
