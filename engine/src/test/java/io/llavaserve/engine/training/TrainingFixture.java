package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldMix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The smoke model with the server's tokenizer and template, a small world vocabulary and its
 * deterministic data, shared by the training tests (building the encoder and the vocabulary takes
 * seconds, so it is done once per JVM).
 */
final class TrainingFixture {

  static final long SEED = 11;
  static final SizeRange SIZES = SizeRange.square(64);

  final TrainingSpec spec = TrainingSpec.smoke();
  final SampleEncoder encoder;
  final WorldVocabulary vocabulary;
  final BatchSource data;

  private static TrainingFixture shared;

  private TrainingFixture() {
    var config = spec.config();
    encoder =
        new SampleEncoder(
            LlamaTokenizer.bundledLlama(),
            ChatTemplate.vicunaV1(),
            config.imageTokenIndex(),
            config.imageSeqLength());
    vocabulary =
        BatchSource.vocabulary(
            encoder,
            SEED,
            SIZES,
            200,
            config.text().vocabSize(),
            spec.clipText().objective() == ClipTextSpec.Objective.FACTS,
            WorldMix.PLAIN);
    data = new BatchSource(SEED, SIZES, encoder, vocabulary, spec);
  }

  static synchronized TrainingFixture get() {
    if (shared == null) {
      shared = new TrainingFixture();
    }
    return shared;
  }

  /** Every parameter's initial value, as a run starts. */
  Map<String, float[]> initialValues() {
    return Initializer.values(
        spec.shapes(vocabulary), spec.config().text().numHiddenLayers(), SEED);
  }

  /** The values of the parameters {@code stage} reads. */
  static Map<String, float[]> readBy(Stage stage, Map<String, float[]> values) {
    Map<String, float[]> out = new LinkedHashMap<>();
    values.forEach(
        (name, v) -> {
          if (stage.reads(name)) {
            out.put(name, v.clone());
          }
        });
    return out;
  }

  /** A session of {@code stage} loaded with {@code values} (fresh moments), one thread. */
  StageSession session(Stage stage, Map<String, float[]> values) {
    return session(stage, 0, values);
  }

  /** A session of {@code stage} whose tower learns at {@code towerScale} times the rate. */
  StageSession session(Stage stage, double towerScale, Map<String, float[]> values) {
    StageSession s = new StageSession(stage, towerScale, spec, vocabulary, 0.01, 1.0, 1);
    try {
      s.load(readBy(stage, values), Map.of());
    } catch (RuntimeException e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * Runs {@code steps} optimisation steps of a LLaVA or text stage, as the trainer schedules them.
   */
  void train(StageSession session, int steps, int batchSize) {
    for (int s = 0; s < steps; s++) {
      TrainingBatch b = data.batch(session.stage(), s, batchSize);
      session.step(b, 3e-3f, corrections(AdamW.BETA1, s), corrections(AdamW.BETA2, s));
    }
  }

  /** Adam's bias correction {@code 1 / (1 - beta^(step + 1))}. */
  /**
   * Runs {@code steps} optimisation steps of {@code step} (given the learning-rate corrections of
   * each step) and returns the first and the last step's results.
   */
  static StageSession.StepResult[] fit(
      int steps, java.util.function.BiFunction<Float, Float, StageSession.StepResult> step) {
    StageSession.StepResult first = null;
    StageSession.StepResult last = null;
    for (int s = 0; s < steps; s++) {
      last = step.apply(corrections(AdamW.BETA1, s), corrections(AdamW.BETA2, s));
      if (first == null) {
        first = last;
      }
    }
    return new StageSession.StepResult[] {first, last};
  }

  static float corrections(float beta, long step) {
    return (float) (1 / (1 - Math.pow(beta, step + 1)));
  }

  static double maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new AssertionError("lengths " + a.length + " and " + b.length);
    }
    double worst = 0;
    for (int i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs((double) a[i] - b[i]));
    }
    return worst;
  }

  /**
   * The server's exact runner for {@code ckpt}: float32 matmuls on stock TensorFlow ops, one
   * thread, a pool of {@code blocks} KV blocks of 16 tokens.
   */
  static TfModelRunner exactRunner(Checkpoint ckpt, int blocks) throws CheckpointException {
    return TfModelRunner.load(
        ckpt,
        new KvCacheConfig(16, blocks),
        new TfModelRunner.Threads(1, 1),
        MatmulPrecision.FLOAT32,
        Kernels.GRAPH);
  }

  /**
   * The server's logits for training sequence {@code e} (one image of {@code positions} positions)
   * in one prefill step: its ids folded back to one image token and expanded as the server expands
   * a prompt (checked to give the training sequence again), the image's features from the runner's
   * own vision run.
   */
  static StepOutput serve(
      TfModelRunner runner,
      int imageTokenIndex,
      EncodedSample e,
      PixelValues image,
      int positions) {
    int[] folded = new int[e.length()];
    int n = 0;
    for (int p = 0; p < e.length(); p++) {
      if (e.imageSlot()[p] <= 0) {
        folded[n++] = e.ids()[p];
      }
    }
    ExpandedPrompt prompt =
        ExpandedPrompt.expand(
            java.util.Arrays.copyOf(folded, n), imageTokenIndex, new int[] {positions});
    org.junit.jupiter.api.Assertions.assertArrayEquals(
        e.ids(), prompt.tokens(), "the server expands the image as training");
    List<ImageFeatures> features = runner.encodeImages(List.of(image));
    int length = prompt.length();
    int[] blocks = new int[(length + 15) / 16];
    for (int i = 0; i < blocks.length; i++) {
      blocks[i] = i;
    }
    return runner.execute(
        new ScheduledBatch(
            List.of(
                new SequenceChunk(
                    prompt.tokens(), 0, blocks, prompt.placements(0, length, features))),
            true));
  }
}
