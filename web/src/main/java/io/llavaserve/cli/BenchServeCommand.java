package io.llavaserve.cli;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.PixelValues;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The serving core in process, no HTTP: waves of concurrent requests through {@link LlavaEngine},
 * reporting output tokens/s, time to first token and inter-token latency, the gain of continuous
 * batching over one request at a time, and the time to first token of a cached image and prompt
 * against a cold one.
 */
@Command(name = "serve", description = "Benchmark continuous batching in process (no HTTP).")
final class BenchServeCommand implements Callable<Integer> {

  @Mixin ModelOption model;

  @Mixin EngineOptions engineFlags;

  @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32,64")
  int[] concurrency;

  @Option(
      names = "--prompt-tokens",
      defaultValue = "64",
      description = "Text prompt length (default: ${DEFAULT-VALUE}).")
  int promptTokens;

  @Option(
      names = "--output-tokens",
      defaultValue = "128",
      description = "Tokens per answer (default: ${DEFAULT-VALUE}).")
  int outputTokens;

  @Option(
      names = "--image-trials",
      defaultValue = "3",
      description = "Cold/cached image pairs timed; 0 skips them (default: ${DEFAULT-VALUE}).")
  int imageTrials;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (imageTrials < 0) {
      throw new IllegalArgumentException("--image-trials must be >= 0, got " + imageTrials);
    }
    PrintWriter out = spec.commandLine().getOut();
    Settings settings = model.settings().with(engineFlags.flags());
    EngineConfig config =
        ServingConfig.forConcurrency(
            ServingConfig.engine(settings), Arrays.stream(concurrency).max().orElse(1));
    try (ServingStack stack = ServingStack.inProcess()) {
      stack.load(model.resolve(), ServingConfig.model(settings)).startEngine(config);
      LlavaModel m = stack.model();
      LlavaEngine engine = stack.engine();
      out.printf(
          "model: decoder %d x %d layers, vocab %d, %d image positions; KV cache %d blocks of %d%n",
          m.config().text().hiddenSize(),
          m.config().text().numHiddenLayers(),
          m.config().text().vocabSize(),
          m.imagePositions(randomImage(new SplittableRandom(0), m)),
          m.runner().kvCache().numBlocks(),
          m.runner().kvCache().blockSize());
      out.printf(
          "requests: %d-token text prompts, %d-token answers (EOS ignored), greedy%n%n",
          promptTokens, outputTokens);
      SplittableRandom rnd = new SplittableRandom(7);
      wave(engine, List.of(request(rnd, m, List.of(), "warmup")), out, false); // warm-up

      out.println(
          "concurrency  output tok/s  TTFT p50 ms  TTFT p99 ms  ITL p50 ms  ITL p99 ms  wall s");
      double single = 0;
      double at32 = 0;
      for (int n : concurrency) {
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          reqs.add(request(rnd, m, List.of(), "c" + n + "-" + i));
        }
        double tps = wave(engine, reqs, out, true);
        if (n == 1) {
          single = tps;
        }
        if (n == 32) {
          at32 = tps;
        }
      }
      if (single > 0 && at32 > 0) {
        out.printf(
            "%ncontinuous batching at 32 vs one request at a time: %.1fx (target >= 10x)%n",
            at32 / single);
      }

      // Cold vs cached: a new image and prompt, then the same again.
      if (imageTrials > 0) {
        double[] cold = new double[imageTrials];
        double[] cached = new double[imageTrials];
        for (int t = 0; t < imageTrials; t++) {
          PixelValues img = randomImage(rnd, m);
          GenerationRequest first = request(rnd, m, List.of(img), "cold-" + t);
          GenerationRequest again =
              new GenerationRequest(
                  "cached-" + t,
                  first.promptIds(),
                  List.of(img),
                  first.sampling(),
                  first.priority());
          cold[t] = run(engine, first).ttftMs();
          cached[t] = run(engine, again).ttftMs();
        }
        Arrays.sort(cold);
        Arrays.sort(cached);
        double coldMs = cold[imageTrials / 2];
        double cachedMs = cached[imageTrials / 2];
        out.printf(
            "image + prompt TTFT: cold %.1f ms, cached %.1f ms = %.1f%% of cold (target <= 20%%);"
                + " image cache hits %d, prefix hit rate %.1f%%%n",
            coldMs,
            cachedMs,
            100 * cachedMs / coldMs,
            engine.stats().imageCacheHits(),
            100 * engine.stats().prefixHitRate());
      }
      EngineStats s = engine.stats();
      out.printf("preemptions %d, steps %d%n", s.preemptions(), s.steps());
    }
    return 0;
  }

  /**
   * A prompt of {@code promptTokens} random ids after the tokenizer's BOS (when it has one), each
   * image as its placeholder and a newline; random ids never hit the placeholder.
   */
  private GenerationRequest request(
      SplittableRandom rnd, LlavaModel m, List<PixelValues> images, String id) {
    // Below 32000: ordinary tokens in every family's vocabulary, never an added special one.
    int vocab = Math.min(32000, m.config().text().vocabSize());
    int image = m.config().imageTokenIndex();
    int bos = m.tokenizer().bosId();
    int[] newlines = m.tokenizer().encode("\n", false);
    int newline = newlines[newlines.length - 1];
    int[] ids = new int[promptTokens + 2 * images.size()];
    int at = 0;
    if (bos >= 0) {
      ids[at++] = bos;
    }
    for (int i = 0; i < images.size(); i++) {
      ids[at++] = image;
      ids[at++] = newline;
    }
    while (at < ids.length) {
      int t = 3 + rnd.nextInt(vocab - 3);
      if (t != image) {
        ids[at++] = t;
      }
    }
    return GenerationRequest.interactive(id, ids, images, BenchStats.fixedLength(outputTokens));
  }

  /** Random pixels the model takes: one tile, or for llava_next those of a tile-sized image. */
  private static PixelValues randomImage(SplittableRandom rnd, LlavaModel m) {
    int side = m.config().vision().imageSize();
    int tiles = m.config().isAnyResolution() ? m.config().anyResolution().tiles(side, side) : 1;
    float[] data = new float[tiles * 3 * side * side];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (rnd.nextDouble() * 2 - 1);
    }
    return m.config().isAnyResolution()
        ? PixelValues.tiled(tiles, 3, side, side, side, side, data)
        : PixelValues.of(3, side, side, data);
  }

  private static BenchStats.Trace run(LlavaEngine engine, GenerationRequest r) {
    return BenchStats.submit(engine, r).join();
  }

  /** Submits all at once and waits for all; returns output tokens per second of wall time. */
  private static double wave(
      LlavaEngine engine, List<GenerationRequest> reqs, PrintWriter out, boolean print) {
    long start = System.nanoTime();
    List<CompletableFuture<BenchStats.Trace>> pending = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      pending.add(BenchStats.submit(engine, r));
    }
    List<BenchStats.Trace> traces = pending.stream().map(CompletableFuture::join).toList();
    BenchStats.Summary s = BenchStats.Summary.of(traces, (System.nanoTime() - start) / 1e9);
    if (s.failed() > 0) {
      throw new IllegalStateException(
          s.failed() + " benchmark requests failed; the first: " + s.firstError());
    }
    if (print) {
      out.printf(
          "%11d  %12.1f  %11.1f  %11.1f  %10.1f  %10.1f  %6.1f%n",
          reqs.size(),
          s.outputTokensPerSec(),
          BenchStats.percentile(s.ttftMs(), 50),
          BenchStats.percentile(s.ttftMs(), 99),
          BenchStats.percentile(s.itlMs(), 50),
          BenchStats.percentile(s.itlMs(), 99),
          s.wallSec());
      out.flush();
    }
    return s.outputTokensPerSec();
  }
}
