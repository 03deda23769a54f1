package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.RowOutput;
import io.llavaserve.engine.sampling.RowSampling;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The graph against the plain-Java reference, and paged attention against itself. */
class TfModelRunnerTest {

  @TempDir Path dir;

  static Stream<Arguments> variants() {
    return Stream.of(
        Arguments.of("gqa-untied-f32-1img", TinySpec.tiny(), 1),
        Arguments.of("mha-untied-f32-2img", TinySpec.tiny().withKeyValueHeads(4), 2),
        Arguments.of("gqa-tied-f32-2img", TinySpec.tiny().withTiedEmbeddings(true), 2),
        Arguments.of("gqa-f16-1img", TinySpec.tiny().withDtype(DType.F16), 1),
        Arguments.of("gqa-bf16-2img", TinySpec.tiny().withDtype(DType.BF16), 2),
        Arguments.of("text-only", TinySpec.tiny().withRopeTheta(500000), 0),
        Arguments.of("linear-projector", TinySpec.tiny().withProjector(ProjectorKind.LINEAR), 1),
        Arguments.of("projector-without-bias", TinySpec.tiny().withProjectorBias(false), 1),
        Arguments.of(
            "linear-projector-without-bias",
            TinySpec.tiny().withProjector(ProjectorKind.LINEAR).withProjectorBias(false),
            1),
        Arguments.of(
            "qwen2-qkv-bias-tied-theta1e6",
            TinySpec.tiny()
                .withTextFamily(io.llavaserve.engine.config.TextFamily.QWEN2)
                .withTiedEmbeddings(true)
                .withRopeTheta(1e6),
            1),
        Arguments.of(
            "mistral",
            TinySpec.tiny().withTextFamily(io.llavaserve.engine.config.TextFamily.MISTRAL),
            2),
        Arguments.of("siglip-qwen2-2img", TinySpec.siglipQwen2(), 2),
        Arguments.of("siglip-bf16-1img", TinySpec.siglipQwen2().withDtype(DType.BF16), 1));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("variants")
  void graphMatchesReference(String name, TinySpec spec, int images) throws Exception {
    TinyCheckpoint.write(dir, spec);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      assertMatchesReference(ckpt, runner, images);
    }
  }

  /**
   * A float16 checkpoint served with AUTO keeps its weights in float16 where the native float16
   * matmul runs them, and stays as exact as float32: the same tolerance against the reference.
   */
  @Test
  void float16CheckpointWithAutoKeepsFloat16AndMatchesReference() throws Exception {
    NativeTestSupport.assumeNativeOpsBuilt();
    org.junit.jupiter.api.Assumptions.assumeTrue(
        NativeKernels.cpuHasF16cFma(), "the CPU has no F16C and FMA: AUTO gives FLOAT32");
    MatmulPrecision precision = MatmulPrecision.AUTO.resolve(DType.F16, Kernels.AUTO);
    assertEquals(MatmulPrecision.FLOAT16, precision);
    TinyCheckpoint.write(dir, TinySpec.tiny().withDtype(DType.F16));
    assertNativeAndExact(dir, precision, true);
  }

  /**
   * A bfloat16 checkpoint served with AUTO on a CPU without AMX keeps its weights in bfloat16 (the
   * column-block kernel widens them by a shift, over float32 activations), and stays as exact as
   * float32: the same tolerance against the reference, at about half the Linear weights' bytes.
   */
  @Test
  void bfloat16CheckpointWithAutoKeepsBfloat16AndMatchesReference() throws Exception {
    NativeTestSupport.assumeNativeOpsBuilt();
    org.junit.jupiter.api.Assumptions.assumeTrue(
        NativeKernels.cpuHasF16cFma() && !NativeKernels.cpuHasAmxBf16(),
        "AUTO gives the column-block kernel on CPUs with AVX2 and FMA and without AMX");
    MatmulPrecision precision = MatmulPrecision.AUTO.resolve(DType.BF16, Kernels.AUTO);
    assertEquals(MatmulPrecision.BFLOAT16, precision);
    List<TinySpec> specs =
        List.of(
            TinySpec.tiny().withDtype(DType.BF16), TinySpec.siglipQwen2().withDtype(DType.BF16));
    for (int i = 0; i < specs.size(); i++) {
      Path model = dir.resolve("model" + i);
      TinyCheckpoint.write(model, specs.get(i));
      // The tiny LLaMA's Linear layers dominate its bytes (the SigLIP model's tower does not).
      assertNativeAndExact(model, precision, i == 0);
    }
  }

  /**
   * The checkpoint in {@code model} loaded with {@code precision} and the kernels AUTO picks: its
   * Linear layers native, every logit within the float32 tolerance of the reference, and with
   * {@code halfTheBytes} under three quarters of the bytes the widened float32 weights take.
   */
  private static void assertNativeAndExact(
      Path model, MatmulPrecision precision, boolean halfTheBytes) throws Exception {
    try (Checkpoint ckpt = Checkpoint.open(model);
        TfModelRunner runner =
            TfModelRunner.load(
                ckpt,
                new KvCacheConfig(4, 64),
                TfModelRunner.Threads.defaults(),
                precision,
                Kernels.AUTO)) {
      assertTrue(runner.nativeMatMul());
      if (halfTheBytes) {
        try (TfModelRunner widened =
            TfModelRunner.load(
                ckpt,
                new KvCacheConfig(4, 64),
                TfModelRunner.Threads.defaults(),
                MatmulPrecision.FLOAT32,
                Kernels.AUTO)) {
          assertTrue(runner.weightBytes() < 0.75 * widened.weightBytes());
        }
      }
      assertMatchesReference(ckpt, runner, 2);
    }
  }

  /** Without the native kernels, float16 weights are widened on every call: exact all the same. */
  @Test
  void float16WeightsOnStockOpsMatchReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny().withDtype(DType.F16));
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner =
            TfModelRunner.load(
                ckpt,
                new KvCacheConfig(4, 64),
                TfModelRunner.Threads.defaults(),
                MatmulPrecision.FLOAT16,
                Kernels.GRAPH)) {
      assertTrue(!runner.nativeMatMul());
      assertMatchesReference(ckpt, runner, 1);
    }
  }

  /** Image features and every prompt position's logits within 1e-4 of the reference. */
  private static void assertMatchesReference(Checkpoint ckpt, TfModelRunner runner, int images)
      throws Exception {
    LlavaConfig cfg = ckpt.config();
    SplittableRandom rnd = new SplittableRandom(7);
    List<PixelValues> pixels = new ArrayList<>();
    for (int i = 0; i < images; i++) {
      pixels.add(randomPixels(cfg, rnd));
    }
    int[] ids = promptIds(cfg, rnd, 9, images);
    ExpandedPrompt prompt = ExpandedPrompt.expand(ids, cfg.imageTokenIndex(), cfg.imageSeqLength());

    List<ImageFeatures> features = runner.encodeImages(pixels);
    ReferenceLlava ref = new ReferenceLlava(ckpt);
    for (int i = 0; i < images; i++) {
      assertClose(
          ref.imageFeatures(pixels.get(i).data()), features.get(i).data(), 1e-4, "features");
    }

    int n = prompt.length();
    SequenceChunk chunk =
        new SequenceChunk(prompt.tokens(), 0, blocks(0, n, 4), prompt.placements(0, n, features));
    StepOutput out = runner.execute(new ScheduledBatch(List.of(chunk), true));
    List<float[]> refPixels = pixels.stream().map(PixelValues::data).toList();
    float[][] expected = ref.logits(ids, refPixels);
    assertEquals(n, out.rowCount());
    double spread = 0;
    for (int t = 0; t < n; t++) {
      assertClose(expected[t], out.row(t), 1e-4, "logits at position " + t);
      spread = Math.max(spread, std(expected[t]));
    }
    assertTrue(spread > 0.1, "logits should not be degenerate, std " + spread);
  }

  /** bfloat16 matmul weights: the same model within bfloat16's precision. */
  @Test
  void bfloat16MatmulsStayCloseToTheReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner =
            TfModelRunner.load(
                ckpt,
                new KvCacheConfig(4, 64),
                TfModelRunner.Threads.defaults(),
                MatmulPrecision.BFLOAT16)) {
      assertWithinBfloat16Precision(ckpt, runner, 5);
    }
  }

  /**
   * The runner's logits over a random image and prompt within bfloat16's precision of the float32
   * reference (a few percent of the logits' spread), and not bit-identical to it.
   */
  private static void assertWithinBfloat16Precision(
      Checkpoint ckpt, TfModelRunner runner, long seed) throws Exception {
    LlavaConfig cfg = ckpt.config();
    SplittableRandom rnd = new SplittableRandom(seed);
    PixelValues px = randomPixels(cfg, rnd);
    List<ImageFeatures> features = runner.encodeImages(List.of(px));
    int[] ids = promptIds(cfg, rnd, 9, 1);
    ExpandedPrompt prompt = ExpandedPrompt.expand(ids, cfg.imageTokenIndex(), cfg.imageSeqLength());
    int n = prompt.length();
    float[][] got = allLogits(runner, prompt, features, 0, n);
    float[][] expected = new ReferenceLlava(ckpt).logits(ids, List.of(px.data()));
    for (int t = 0; t < n; t++) {
      double spread = std(expected[t]);
      // bfloat16 keeps 8 bits of mantissa: errors of a few percent of the logits' spread.
      assertClose(expected[t], got[t], 0.15 * spread, "bfloat16 logits at position " + t);
      double worst = 0;
      for (int v = 0; v < expected[t].length; v++) {
        worst = Math.max(worst, Math.abs(expected[t][v] - got[t][v]));
      }
      assertTrue(worst > 1e-6, "bfloat16 should not be bit-identical to float32");
    }
  }

  /**
   * The native bfloat16 matmul forced on whatever CPU runs the test (its plain path without AMX or
   * AVX512-BF16), on a bfloat16 checkpoint whose weights are packed on the host straight from their
   * stored bits: within bfloat16's precision of the reference, as the stock ops are.
   */
  @Test
  void nativeBfloat16MatmulsOnHostPackedWeightsStayCloseToTheReference() throws Exception {
    NativeTestSupport.assumeNativeOpsBuilt();
    TinyCheckpoint.write(dir, TinySpec.tiny().withDtype(DType.BF16));
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner =
            TfModelRunner.load(
                ckpt,
                new KvCacheConfig(4, 64),
                TfModelRunner.Threads.defaults(),
                MatmulPrecision.BFLOAT16,
                Kernels.NATIVE)) {
      assertTrue(runner.nativeMatMul());
      assertWithinBfloat16Precision(ckpt, runner, 6);
    }
  }

  /** Other ways a config may select features: the last layer, keeping CLS. */
  @Test
  void fullStrategyAndLastLayerMatchReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    Path config = dir.resolve("config.json");
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(config.toFile());
    root.put("vision_feature_select_strategy", "full");
    root.put("vision_feature_layer", -1);
    root.put("image_seq_length", 17);
    json.writeValue(config.toFile(), root);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      LlavaConfig cfg = ckpt.config();
      assertEquals(17, cfg.imageSeqLength());
      SplittableRandom rnd = new SplittableRandom(3);
      PixelValues px = randomPixels(cfg, rnd);
      ReferenceLlava ref = new ReferenceLlava(ckpt);
      List<ImageFeatures> features = runner.encodeImages(List.of(px));
      assertClose(ref.imageFeatures(px.data()), features.get(0).data(), 1e-4, "features");
      int[] ids = promptIds(cfg, rnd, 5, 1);
      ExpandedPrompt prompt =
          ExpandedPrompt.expand(ids, cfg.imageTokenIndex(), cfg.imageSeqLength());
      int n = prompt.length();
      float[][] got = allLogits(runner, prompt, features, 0, n);
      float[][] expected = ref.logits(ids, List.of(px.data()));
      for (int t = 0; t < n; t++) {
        assertClose(expected[t], got[t], 1e-4, "logits at position " + t);
      }
    }
  }

  /**
   * A SigLIP tower read as llava-1.5 reads CLIP (penultimate layer, "default"): the first patch is
   * dropped, as transformers' {@code [:, 1:]} drops it whatever the tower.
   */
  @Test
  void siglipDefaultStrategyDropsTheFirstPatch() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.siglipQwen2());
    Path config = dir.resolve("config.json");
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(config.toFile());
    root.put("vision_feature_select_strategy", "default");
    root.put("vision_feature_layer", -2);
    root.put("image_seq_length", 15);
    json.writeValue(config.toFile(), root);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      LlavaConfig cfg = ckpt.config();
      assertEquals(15, cfg.imageSeqLength());
      assertEquals(2, cfg.visionLayersUsed());
      SplittableRandom rnd = new SplittableRandom(4);
      PixelValues px = randomPixels(cfg, rnd);
      List<ImageFeatures> features = runner.encodeImages(List.of(px));
      assertEquals(15 * cfg.text().hiddenSize(), features.get(0).data().length);
      ReferenceLlava ref = new ReferenceLlava(ckpt);
      assertClose(ref.imageFeatures(px.data()), features.get(0).data(), 1e-4, "features");
      int[] ids = promptIds(cfg, rnd, 5, 1);
      ExpandedPrompt prompt =
          ExpandedPrompt.expand(ids, cfg.imageTokenIndex(), cfg.imageSeqLength());
      float[][] got = allLogits(runner, prompt, features, 0, prompt.length());
      float[][] expected = ref.logits(ids, List.of(px.data()));
      for (int t = 0; t < prompt.length(); t++) {
        assertClose(expected[t], got[t], 1e-4, "logits at position " + t);
      }
    }
  }

  /**
   * The pixels past the last whole patch (4 of 60 here, 6 of 384 in SigLIP-so400m/14) do not reach
   * the features, as a valid convolution never reads them.
   */
  @Test
  void siglipIgnoresThePixelsPastTheLastWholePatch() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.siglipQwen2());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      LlavaConfig cfg = ckpt.config();
      int side = cfg.vision().imageSize();
      int covered = cfg.vision().patchesPerSide() * cfg.vision().patchSize();
      assertTrue(covered < side, "the tiny SigLIP leaves a margin");
      PixelValues px = randomPixels(cfg, new SplittableRandom(6));
      float[] edited = px.data().clone();
      for (int c = 0; c < 3; c++) {
        for (int y = 0; y < side; y++) {
          for (int x = 0; x < side; x++) {
            if (x >= covered || y >= covered) {
              edited[(c * side + y) * side + x] = 7f;
            }
          }
        }
      }
      // One run each: rows of one batch may round differently.
      float[] original = runner.encodeImages(List.of(px)).get(0).data();
      float[] margin =
          runner.encodeImages(List.of(PixelValues.of(3, side, side, edited))).get(0).data();
      assertClose(original, margin, 0, "features with another margin");
    }
  }

  /**
   * SigLIP checkpoints with {@code vision_use_head} hold an attention-pooling head that llava never
   * runs: the checkpoint opens, the head never reaches the device, the features do not change.
   */
  @Test
  void siglipPoolingHeadIsToleratedAndNotLoaded() throws Exception {
    Path plain = TinyCheckpoint.write(dir.resolve("plain"), TinySpec.siglipQwen2());
    Path headed = TinyCheckpoint.write(dir.resolve("headed"), TinySpec.siglipQwen2());
    LlavaConfig cfg = TinySpec.siglipQwen2().toConfig();
    long h = cfg.vision().hiddenSize();
    long inter = cfg.vision().intermediateSize();
    String head = "vision_tower.vision_model.head.";
    java.util.Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
    shapes.put(head + "probe", new long[] {1, 1, h});
    shapes.put(head + "attention.in_proj_weight", new long[] {3 * h, h});
    shapes.put(head + "attention.in_proj_bias", new long[] {3 * h});
    shapes.put(head + "attention.out_proj.weight", new long[] {h, h});
    shapes.put(head + "attention.out_proj.bias", new long[] {h});
    shapes.put(head + "layernorm.weight", new long[] {h});
    shapes.put(head + "layernorm.bias", new long[] {h});
    shapes.put(head + "mlp.fc1.weight", new long[] {inter, h});
    shapes.put(head + "mlp.fc1.bias", new long[] {inter});
    shapes.put(head + "mlp.fc2.weight", new long[] {h, inter});
    shapes.put(head + "mlp.fc2.bias", new long[] {h});
    List<io.llavaserve.engine.checkpoint.SafetensorsWriter.Tensor> tensors = new ArrayList<>();
    shapes.forEach(
        (name, shape) -> {
          float[] v = new float[(int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
          java.util.Arrays.fill(v, 0.5f);
          tensors.add(
              io.llavaserve.engine.checkpoint.SafetensorsWriter.Tensor.of(
                  name, DType.F32, shape, v));
        });
    io.llavaserve.engine.checkpoint.SafetensorsWriter.write(
        headed.resolve("head.safetensors"), tensors, java.util.Map.of());
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    Path config = headed.resolve("config.json");
    var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(config.toFile());
    ((com.fasterxml.jackson.databind.node.ObjectNode) root.get("vision_config"))
        .put("vision_use_head", true);
    json.writeValue(config.toFile(), root);

    try (Checkpoint a = Checkpoint.open(plain);
        Checkpoint b = Checkpoint.open(headed);
        TfModelRunner ra = TfModelRunner.load(a, new KvCacheConfig(4, 64));
        TfModelRunner rb = TfModelRunner.load(b, new KvCacheConfig(4, 64))) {
      assertTrue(b.has(head + "probe"), "the head is in the checkpoint");
      assertEquals(ra.weightBytes(), rb.weightBytes(), "no head weight on the device");
      PixelValues px = randomPixels(a.config(), new SplittableRandom(2));
      assertClose(
          ra.encodeImages(List.of(px)).get(0).data(),
          rb.encodeImages(List.of(px)).get(0).data(),
          0,
          "features");
    }
  }

  @Test
  void chunkedAndMixedPrefillGiveTheSameLogits() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 256))) {
      LlavaConfig cfg = ckpt.config();
      SplittableRandom rnd = new SplittableRandom(11);
      PixelValues px = randomPixels(cfg, rnd);
      List<ImageFeatures> features = runner.encodeImages(List.of(px));
      ExpandedPrompt prompt =
          ExpandedPrompt.expand(
              promptIds(cfg, rnd, 6, 1), cfg.imageTokenIndex(), cfg.imageSeqLength());
      int n = prompt.length();

      // Whole prompt in one chunk (blocks 0..), all logits.
      float[][] whole = allLogits(runner, prompt, features, 0, n);

      // Every chunk size, each run on its own block range so nothing is shared.
      int base = 16;
      for (int size = 1; size <= n; size++) {
        int[] table = blocks(base, n, 4);
        for (int from = 0; from < n; from += size) {
          int to = Math.min(n, from + size);
          SequenceChunk c =
              new SequenceChunk(
                  prompt.slice(from, to), from, table, prompt.placements(from, to, features));
          StepOutput out = runner.execute(new ScheduledBatch(List.of(c), true));
          for (int t = from; t < to; t++) {
            assertClose(whole[t], out.row(t - from), 1e-5, "chunk size " + size + " position " + t);
          }
        }
      }

      // Inside a mixed batch: two other sequences at other positions share every step.
      int[] tableA = blocks(100, n, 4);
      int[] tableB = blocks(150, 64, 4);
      int[] tableC = blocks(200, 64, 4);
      int[] other = promptIds(cfg, rnd, 40, 0);
      // B is a decode-only sequence after a prefill of 20; C prefills in chunks of 3.
      runner.execute(
          ScheduledBatch.of(
              List.of(SequenceChunk.text(java.util.Arrays.copyOf(other, 20), 0, tableB))));
      int bPos = 20;
      int cPos = 0;
      for (int from = 0; from < n; from += 5) {
        int to = Math.min(n, from + 5);
        List<SequenceChunk> chunks = new ArrayList<>();
        chunks.add(SequenceChunk.text(new int[] {other[bPos % other.length]}, bPos, tableB));
        chunks.add(
            new SequenceChunk(
                prompt.slice(from, to), from, tableA, prompt.placements(from, to, features)));
        chunks.add(
            SequenceChunk.text(java.util.Arrays.copyOfRange(other, cPos, cPos + 3), cPos, tableC));
        StepOutput out = runner.execute(new ScheduledBatch(chunks, true));
        // rows: B (1), A (to-from), C (3) in chunk order
        for (int t = from; t < to; t++) {
          assertClose(whole[t], out.row(1 + t - from), 1e-5, "mixed batch position " + t);
        }
        bPos++;
        cPos += 3;
      }
    }
  }

  /** Five prompts of one to four tokens, each in blocks of its own (the third in two). */
  private static List<SequenceChunk> promptsOfOneToFourTokens() {
    return List.of(
        SequenceChunk.text(new int[] {5, 6, 7}, 0, new int[] {0}),
        SequenceChunk.text(new int[] {8, 9}, 0, new int[] {1}),
        SequenceChunk.text(new int[] {10, 11, 12, 13}, 0, new int[] {2, 3}),
        SequenceChunk.text(new int[] {14}, 0, new int[] {4}),
        SequenceChunk.text(new int[] {15, 16}, 0, new int[] {5}));
  }

  /**
   * What a step computes on the device for each row (candidates, normaliser, the inverse-CDF draw,
   * whole rows) equals the host's reference computed from the same logits.
   */
  @Test
  void deviceSamplingMatchesTheHostReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      int vocab = runner.vocabSize();
      List<SequenceChunk> chunks = promptsOfOneToFourTokens().subList(0, 4);
      StepOutput logits = runner.execute(ScheduledBatch.withLogits(chunks));
      RowSampling[] asked = {
        RowSampling.CANDIDATES.withLogprobs().withCandidates(20),
        RowSampling.draw(0.8f, 0.05f, 0.37f).withLogprobs(),
        RowSampling.draw(1.5f, 0f, 0.91f),
        RowSampling.full()
      };
      List<SequenceChunk> sampled = new java.util.ArrayList<>();
      for (int i = 0; i < chunks.size(); i++) {
        sampled.add(chunks.get(i).withSampling(asked[i]));
      }
      // The same positions again: the cache slots are rewritten with the same values.
      StepOutput out = runner.execute(ScheduledBatch.of(sampled));
      assertEquals(chunks.size(), out.rows().size());
      for (int i = 0; i < chunks.size(); i++) {
        RowOutput got = out.rows().get(i);
        // Every row of a step gets as many candidates as the neediest asked for.
        RowOutput want = RowOutput.of(logits.row(i), 0, vocab, asked[i], got.topIds().length);
        assertArrayEquals(want.topIds(), got.topIds(), "candidates of row " + i);
        assertClose(want.topLogits(), got.topLogits(), 1e-6, "candidate logits of row " + i);
        if (asked[i].logprobs()) {
          assertEquals(want.logSumExp(), got.logSumExp(), 1e-4, "normaliser of row " + i);
        }
        assertEquals(want.drawn(), got.drawn(), "draw of row " + i);
        if (asked[i].fullRow()) {
          assertClose(logits.row(i), got.fullRow(), 0, "full row " + i);
        } else {
          assertNull(got.fullRow(), "row " + i + " did not ask for its logits");
        }
      }
      assertTrue(out.rows().get(1).drawn() >= 0 && out.rows().get(2).drawn() >= 0);
      assertEquals(20, out.rows().get(0).topIds().length);
      // A step of greedy rows computes the top token alone.
      StepOutput greedy = runner.execute(ScheduledBatch.of(chunks));
      for (int i = 0; i < chunks.size(); i++) {
        assertArrayEquals(
            new int[] {out.rows().get(i).topIds()[0]}, greedy.rows().get(i).topIds(), "row " + i);
      }
    }
  }

  /**
   * Token masks applied on the device: a masked greedy row takes the best allowed id, a masked draw
   * draws among the allowed ids only, as the host reference does on the masked row; unmasked rows
   * of the same step (fed all ones) and whole rows are untouched.
   */
  @Test
  void deviceMasksMatchTheHostReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      int vocab = runner.vocabSize();
      List<SequenceChunk> chunks = promptsOfOneToFourTokens();
      StepOutput logits = runner.execute(ScheduledBatch.withLogits(chunks));
      // Row 0's allowed ids avoid its unmasked argmax; the last id of the vocabulary and ids
      // across byte boundaries check the bit layout.
      int argmax0 = RowOutput.of(logits.row(0), 0, vocab, RowSampling.CANDIDATES).topIds()[0];
      int[] ids0 =
          java.util.stream.IntStream.of(3, 7, 8, 63, 64, 65, vocab - 1)
              .filter(id -> id != argmax0)
              .toArray();
      io.llavaserve.engine.sampling.constraint.TokenMask[] masks = {
        io.llavaserve.engine.sampling.constraint.TokenMask.allowing(ids0),
        io.llavaserve.engine.sampling.constraint.TokenMask.allowing(
            java.util.stream.IntStream.range(0, vocab).filter(id -> id % 3 == 1).toArray()),
        null,
        null,
        io.llavaserve.engine.sampling.constraint.TokenMask.allowing(vocab - 1)
      };
      RowSampling[] asked = {
        RowSampling.CANDIDATES.withMask(masks[0]),
        RowSampling.draw(1.2f, 0f, 0.63f).withMask(masks[1]),
        RowSampling.CANDIDATES.withCandidates(5),
        RowSampling.full(),
        RowSampling.draw(0.7f, 0.1f, 0.2f).withMask(masks[4])
      };
      List<SequenceChunk> sampled = new java.util.ArrayList<>();
      for (int i = 0; i < chunks.size(); i++) {
        sampled.add(chunks.get(i).withSampling(asked[i]));
      }
      StepOutput out = runner.execute(ScheduledBatch.of(sampled));
      for (int i = 0; i < chunks.size(); i++) {
        RowOutput got = out.rows().get(i);
        RowOutput want = RowOutput.of(logits.row(i), 0, vocab, asked[i], got.topIds().length);
        assertArrayEquals(want.topIds(), got.topIds(), "candidates of row " + i);
        for (int j = 0; j < want.topLogits().length; j++) {
          // Candidates past the allowed ids are masked out: -infinity on both sides.
          assertEquals(
              want.topLogits()[j], got.topLogits()[j], 1e-6, "row " + i + " candidate " + j);
        }
        assertEquals(want.drawn(), got.drawn(), "draw of row " + i);
        if (masks[i] != null) {
          int chosen = asked[i].drawsOnDevice() ? got.drawn() : got.topIds()[0];
          assertTrue(masks[i].allows(chosen), "row " + i + " took " + chosen);
          assertEquals(logits.row(i)[chosen], got.logitOf(chosen), 1e-6, "raw logit, row " + i);
        }
      }
      assertTrue(argmax0 != out.rows().get(0).topIds()[0]);
      assertEquals(vocab - 1, out.rows().get(4).drawn());
      assertClose(logits.row(3), out.rows().get(3).fullRow(), 0, "full row 3");
    }
  }

  @Test
  void rejectsBadChunks() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 8))) {
      assertThrows(
          IllegalArgumentException.class,
          () ->
              runner.execute(
                  ScheduledBatch.of(
                      List.of(SequenceChunk.text(new int[] {1, 2, 3, 4, 5}, 0, new int[] {0})))));
      assertThrows(
          IllegalArgumentException.class,
          () ->
              runner.execute(
                  ScheduledBatch.of(List.of(SequenceChunk.text(new int[] {1}, 0, new int[] {8})))));
      assertThrows(
          IllegalArgumentException.class,
          () ->
              runner.execute(
                  ScheduledBatch.of(
                      List.of(SequenceChunk.text(new int[] {1 << 20}, 0, new int[] {0})))));
    }
  }

  private static float[][] allLogits(
      TfModelRunner runner, ExpandedPrompt p, List<ImageFeatures> f, int from, int to) {
    SequenceChunk c =
        new SequenceChunk(p.slice(from, to), from, blocks(0, to, 4), p.placements(from, to, f));
    StepOutput out = runner.execute(new ScheduledBatch(List.of(c), true));
    float[][] rows = new float[out.rowCount()][];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = out.row(i);
    }
    return rows;
  }

  static int[] blocks(int first, int tokens, int blockSize) {
    int[] t = new int[(tokens + blockSize - 1) / blockSize];
    for (int i = 0; i < t.length; i++) {
      t[i] = first + i;
    }
    return t;
  }

  static int[] promptIds(LlavaConfig cfg, SplittableRandom rnd, int textTokens, int images) {
    int[] ids = new int[textTokens + images];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = 3 + rnd.nextInt(cfg.text().vocabSize() - 100);
    }
    for (int i = 0; i < images; i++) {
      ids[1 + i * 3] = cfg.imageTokenIndex();
    }
    return ids;
  }

  static PixelValues randomPixels(LlavaConfig cfg, SplittableRandom rnd) {
    int side = cfg.vision().imageSize();
    float[] data = new float[3 * side * side];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (rnd.nextDouble() * 4 - 2);
    }
    return PixelValues.of(3, side, side, data);
  }

  static void assertClose(float[] expected, float[] actual, double tol, String what) {
    assertEquals(expected.length, actual.length, what + ": length");
    double worst = 0;
    int at = -1;
    for (int i = 0; i < expected.length; i++) {
      double d = Math.abs(expected[i] - actual[i]);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    if (!(worst <= tol)) {
      throw new AssertionError(
          what
              + ": max |diff| "
              + worst
              + " at "
              + at
              + " (expected "
              + expected[at]
              + ", got "
              + actual[at]
              + ")");
    }
  }

  static double std(float[] x) {
    double m = 0;
    for (float v : x) {
      m += v;
    }
    m /= x.length;
    double s = 0;
    for (float v : x) {
      s += (v - m) * (v - m);
    }
    return Math.sqrt(s / x.length);
  }
}
