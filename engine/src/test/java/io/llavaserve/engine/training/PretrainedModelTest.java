package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldDatasets;
import io.llavaserve.engine.training.world.WorldMix;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PretrainedModelTest {

  private static final TrainingSpec SPEC = TrainingSpec.smoke();

  /** Two steps of every stage. */
  private static final List<StagePlan> TWO_STEPS =
      List.of(
          new StagePlan(Stage.CLIP, 2, 16, 2e-3, 1),
          new StagePlan(Stage.TEXT, 2, 8, 3e-3, 1),
          new StagePlan(Stage.ALIGN, 2, 8, 3e-3, 1),
          new StagePlan(Stage.INSTRUCT, 2, 8, 3e-3, 1));

  @Test
  void everyTensorOfTheModelAndTheWorldRowsOfItsEmbedding(@TempDir Path dir) throws Exception {
    TinyCheckpoint.write(dir, SPEC.model());
    int vocab = SPEC.config().text().vocabSize();
    int hidden = SPEC.config().text().hiddenSize();
    WorldVocabulary vocabulary = new WorldVocabulary(List.of(0, 2, 5), vocab);
    Map<String, long[]> shapes = SPEC.shapes(vocabulary);

    Map<String, float[]> loaded = PretrainedModel.load(dir, shapes, vocabulary, hidden);

    try (Checkpoint c = Checkpoint.open(dir)) {
      for (var e : loaded.entrySet()) {
        if (!e.getKey().equals(Towers.WORLD_EMBED)) {
          assertArrayEquals(c.tensor(e.getKey()).toFloatArray(), e.getValue(), 0f, e.getKey());
        }
      }
      float[] full = c.tensor(WeightShapes.EMBED_TOKENS).toFloatArray();
      float[] world = loaded.get(Towers.WORLD_EMBED);
      int[] rowsOf = {0, 2, 5, 1}; // the world's ids, then the first other id for the shared row
      for (int r = 0; r < rowsOf.length; r++) {
        assertArrayEquals(
            Arrays.copyOfRange(full, rowsOf[r] * hidden, (rowsOf[r] + 1) * hidden),
            Arrays.copyOfRange(world, r * hidden, (r + 1) * hidden),
            0f,
            "row " + r);
      }
    }
    // Every LLaVA tensor is there; the tower stage's training heads are not.
    long llava =
        shapes.keySet().stream()
            .filter(n -> n.startsWith(WeightShapes.VISION) || n.startsWith("multi_modal_projector"))
            .count();
    assertTrue(loaded.size() > llava, loaded.size() + " tensors");
    assertTrue(loaded.keySet().stream().noneMatch(n -> n.startsWith("clip.")));
  }

  @Test
  void aModelOfOtherDimensionsIsRefusedByName(@TempDir Path dir) throws Exception {
    IOException e = refusal(dir, TrainingSpec.standard().model(), deeper(4));
    assertTrue(e.getMessage().startsWith("--init-from " + dir), e.getMessage());
    assertTrue(e.getMessage().contains("the model needs"), e.getMessage());
  }

  @Test
  void aRunStartedFromAModelExportsItUnchangedWhenNoStepRuns(@TempDir Path dir) throws Exception {
    Path first = dir.resolve("first");
    new Trainer(options(first, TWO_STEPS, null), quiet()).run();
    List<StagePlan> none = TWO_STEPS.stream().map(p -> p.withSteps(0, 0)).toList();
    Path second = dir.resolve("second");

    new Trainer(options(second, none, first.resolve("final")), quiet()).run();

    try (Checkpoint a = Checkpoint.open(first.resolve("final"));
        Checkpoint b = Checkpoint.open(second.resolve("final"))) {
      for (String name : a.tensorNames()) {
        assertArrayEquals(a.tensor(name).toFloatArray(), b.tensor(name).toFloatArray(), 0f, name);
      }
    }
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new Trainer.Options(
                dir,
                SPEC,
                none,
                1,
                SizeRange.square(64),
                Duration.ofHours(1),
                1,
                0.01,
                1.0,
                WorldMix.PLAIN,
                first.resolve("clip"),
                0,
                first.resolve("final")));
  }

  @Test
  void newLayersAreSpreadEvenlyAmongTheStoredOnes() {
    assertArrayEquals(new int[] {0, 1, -2, 2, 3, -4}, PretrainedModel.expansion(4, 6));
    assertArrayEquals(new int[] {0, 1, 2, -3}, PretrainedModel.expansion(3, 4));
    assertArrayEquals(new int[] {0, -1, -1, 1, -2, -2}, PretrainedModel.expansion(2, 6));
    assertArrayEquals(new int[] {0, 1}, PretrainedModel.expansion(2, 2));
    assertThrows(IllegalArgumentException.class, () -> PretrainedModel.expansion(4, 3));
  }

  @Test
  void aDeeperDecoderTakesTheStoredLayersInOrderAndSilentCopiesBetween(@TempDir Path dir)
      throws Exception {
    TinyCheckpoint.write(dir, SPEC.model());
    TrainingSpec deeper = deeper(4);
    int vocab = SPEC.config().text().vocabSize();
    WorldVocabulary vocabulary = new WorldVocabulary(List.of(0, 2, 5), vocab);

    Map<String, float[]> loaded =
        PretrainedModel.load(
            dir, deeper.shapes(vocabulary), vocabulary, SPEC.config().text().hiddenSize());

    String text = WeightShapes.TEXT + "layers.";
    int[] from = PretrainedModel.expansion(2, 4); // 0, copy of 0, 1, copy of 1
    try (Checkpoint c = Checkpoint.open(dir)) {
      int silenced = 0;
      for (String name : c.tensorNames()) {
        if (!name.startsWith(text)) {
          continue;
        }
        int dot = name.indexOf('.', text.length());
        int stored = Integer.parseInt(name.substring(text.length(), dot));
        String part = name.substring(dot + 1);
        float[] value = c.tensor(name).toFloatArray();
        for (int i = 0; i < from.length; i++) {
          float[] got = loaded.get(text + i + "." + part);
          if (from[i] == stored) {
            assertArrayEquals(value, got, 0f, "layer " + i + " " + part);
          } else if (from[i] == -1 - stored) {
            if (part.equals("self_attn.o_proj.weight") || part.equals("mlp.down_proj.weight")) {
              assertArrayEquals(new float[value.length], got, 0f, "layer " + i + " " + part);
              silenced++;
            } else {
              assertArrayEquals(value, got, 0f, "layer " + i + " " + part);
            }
          }
        }
      }
      assertEquals(4, silenced, "two projections in each of the two new layers");
    }
    assertTrue(
        loaded
            .keySet()
            .containsAll(
                deeper.shapes(vocabulary).keySet().stream()
                    .filter(n -> n.startsWith(WeightShapes.TEXT))
                    .filter(n -> !n.equals(WeightShapes.EMBED_TOKENS))
                    .toList()),
        "every tensor of the four layers");
  }

  @Test
  void aShallowerDecoderIsRefusedNamingBothDepths(@TempDir Path dir) throws Exception {
    IOException e = refusal(dir, deeper(3).model(), SPEC);
    assertTrue(e.getMessage().contains("has 3 layers, the run's 2"), e.getMessage());
  }

  @Test
  void aRunThatAddsLayersServesTheCheckpointsLogitsBeforeItsFirstStep(@TempDir Path dir)
      throws Exception {
    Path first = dir.resolve("first");
    new Trainer(options(first, TWO_STEPS, null), quiet()).run();
    List<StagePlan> none = TWO_STEPS.stream().map(p -> p.withSteps(0, 0)).toList();
    Path second = dir.resolve("second");
    new Trainer(options(second, deeper(3), none, first.resolve("final")), quiet()).run();

    TrainingFixture fx = TrainingFixture.get();
    Sample sample =
        new WorldDatasets(TrainingFixture.SEED + 2, TrainingFixture.SIZES).instruction();
    EncodedSample encoded = fx.encoder.conversation(sample.turns(), true);
    int side = SPEC.config().vision().imageSize();
    PixelValues image = PixelValues.of(3, side, side, fx.data.pixels(sample));
    int positions = SPEC.config().imageSeqLength();
    float[][] logits = new float[2][];
    Path[] folders = {first.resolve("final"), second.resolve("final")};
    for (int k = 0; k < 2; k++) {
      try (Checkpoint ckpt = Checkpoint.open(folders[k]);
          TfModelRunner runner = TrainingFixture.exactRunner(ckpt, 64)) {
        assertEquals(k == 0 ? 2 : 3, ckpt.config().text().numHiddenLayers());
        StepOutput out =
            TrainingFixture.serve(
                runner, ckpt.config().imageTokenIndex(), encoded, image, positions);
        int vocab = ckpt.config().text().vocabSize();
        logits[k] = new float[encoded.length() * vocab];
        for (int p = 0; p < encoded.length(); p++) {
          System.arraycopy(out.row(p), 0, logits[k], p * vocab, vocab);
        }
      }
    }
    assertArrayEquals(logits[0], logits[1], 1e-5f, "the new layer adds nothing");
  }

  /**
   * What loading a checkpoint of {@code stored} in {@code dir} into a run of {@code run} throws.
   */
  private static IOException refusal(Path dir, TinySpec stored, TrainingSpec run)
      throws IOException {
    TinyCheckpoint.write(dir, stored);
    WorldVocabulary vocabulary =
        new WorldVocabulary(List.of(1, 2), SPEC.config().text().vocabSize());
    return assertThrows(
        IOException.class,
        () ->
            PretrainedModel.load(
                dir, run.shapes(vocabulary), vocabulary, SPEC.config().text().hiddenSize()));
  }

  private static TrainingSpec deeper(int layers) {
    return new TrainingSpec(SPEC.model().withTextLayers(layers), SPEC.clipText());
  }

  private static Trainer.Options options(Path dir, List<StagePlan> plans, Path initFrom) {
    return options(dir, SPEC, plans, initFrom);
  }

  private static Trainer.Options options(
      Path dir, TrainingSpec spec, List<StagePlan> plans, Path initFrom) {
    return new Trainer.Options(
        dir,
        spec,
        plans,
        3,
        SizeRange.square(64),
        Duration.ofHours(1),
        1,
        0.01,
        1.0,
        WorldMix.PLAIN,
        null,
        0,
        initFrom);
  }

  private static PrintStream quiet() {
    return new PrintStream(new ByteArrayOutputStream());
  }
}
