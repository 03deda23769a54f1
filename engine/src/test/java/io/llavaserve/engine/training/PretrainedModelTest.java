package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.training.world.SizeRange;
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
    TinyCheckpoint.write(dir, TrainingSpec.standard().model());
    int vocab = SPEC.config().text().vocabSize();
    WorldVocabulary vocabulary = new WorldVocabulary(List.of(1, 2), vocab);
    IOException e =
        assertThrows(
            IOException.class,
            () ->
                PretrainedModel.load(
                    dir, SPEC.shapes(vocabulary), vocabulary, SPEC.config().text().hiddenSize()));
    assertTrue(e.getMessage().startsWith("--init-from " + dir), e.getMessage());
    assertTrue(e.getMessage().contains("the model needs"), e.getMessage());
  }

  @Test
  void aRunStartedFromAModelExportsItUnchangedWhenNoStepRuns(@TempDir Path dir) throws Exception {
    Path first = dir.resolve("first");
    List<StagePlan> fourSteps =
        List.of(
            new StagePlan(Stage.CLIP, 2, 16, 2e-3, 1),
            new StagePlan(Stage.TEXT, 2, 8, 3e-3, 1),
            new StagePlan(Stage.ALIGN, 2, 8, 3e-3, 1),
            new StagePlan(Stage.INSTRUCT, 2, 8, 3e-3, 1));
    new Trainer(options(first, fourSteps, null), quiet()).run();
    List<StagePlan> none = fourSteps.stream().map(p -> p.withSteps(0, 0)).toList();
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

  private static Trainer.Options options(Path dir, List<StagePlan> plans, Path initFrom) {
    return new Trainer.Options(
        dir,
        SPEC,
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
