package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.generate.GenerationResult;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.training.Stage;
import io.llavaserve.engine.training.StagePlan;
import io.llavaserve.engine.training.TrainingSpec;
import io.llavaserve.engine.training.world.QuestionType;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SceneRenderer;
import io.llavaserve.engine.training.world.WorldDatasets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainCommandTest {

  @TempDir static Path runs;
  @TempDir Path tmp;
  private static Path out;
  private static Cli.Run trained;

  /** One quarter-length smoke run, shared: it is the slow part (about 40 s on two cores). */
  @BeforeAll
  static void train() {
    out = runs.resolve("run");
    trained =
        Cli.run("train", "--preset", "smoke", "--steps-scale", "0.25", "--out", out.toString());
  }

  @Test
  void aQuarterOfTheSmokeRunWritesAFinalCheckpointThatLoadsAndAnswers() throws Exception {
    assertEquals(0, trained.exit(), trained.err() + trained.out());
    Path fin = out.resolve("final");
    assertTrue(Files.size(fin.resolve("config.json")) > 0, trained.out());
    assertTrue(Files.size(fin.resolve("model.safetensors")) > 0, trained.out());
    assertTrue(trained.out().contains("final checkpoint: " + fin), trained.out());
    assertTrue(trained.out().contains("total time: "), trained.out());
    for (Stage s : Stage.values()) {
      assertTrue(trained.out().contains(s.title()), "every stage runs: " + trained.out());
    }
    try (LlavaModel m = LlavaModel.load(fin, ModelOptions.defaults().withKvCacheBytes(4 << 20))) {
      Sample sample = new WorldDatasets(1, TrainCommand.SIZES).vqa(QuestionType.COUNT);
      int[] ids =
          m.chatPrompt(
                  List.of(
                      ChatMessage.of(
                          "user",
                          ContentPart.image(),
                          ContentPart.text(sample.turns().get(0).question()))))
              .ids();
      GenerationResult r =
          new Generator(m)
              .generate(
                  ids,
                  List.of(m.preprocess(SceneRenderer.png(sample.scene()))),
                  SamplingParams.greedy(4),
                  piece -> {});
      assertFalse(r.tokens().isEmpty());
    }
  }

  @Test
  void runningAFinishedRunAgainResumesFromItsStateAndNamesTheSameCheckpoint() {
    assertEquals(0, trained.exit(), trained.err());

    Cli.Run again =
        Cli.run("train", "--preset", "smoke", "--steps-scale", "0.25", "--out", out.toString());

    assertEquals(0, again.exit(), again.err());
    assertTrue(again.out().contains("resuming"), again.out());
    assertTrue(again.out().contains("final checkpoint: " + out.resolve("final")), again.out());
  }

  @Test
  void stepsScaleMultipliesStepsAndWarmupKeepingAtLeastOneStep() {
    List<StagePlan> plans = TrainCommand.scale(TrainingSpec.smokePlan(), 0.25);

    assertEquals(TrainingSpec.smokePlan().size(), plans.size());
    StagePlan clip = plans.get(0);
    StagePlan original = TrainingSpec.smokePlan().get(0);
    assertEquals(Math.round(original.steps() * 0.25), clip.steps());
    assertEquals(Math.round(original.warmupSteps() * 0.25), clip.warmupSteps());
    assertEquals(original.batchSize(), clip.batchSize());
    assertEquals(original.learningRate(), clip.learningRate());
    assertTrue(
        TrainCommand.scale(TrainingSpec.smokePlan(), 1e-6).stream().allMatch(p -> p.steps() == 1));
    assertThrows(IllegalArgumentException.class, () -> TrainCommand.scale(plans, 0));
  }

  @Test
  void towerStepsSetsOnlyTheTowerStageKeepingItsWarmupInRatio() {
    List<StagePlan> base = TrainingSpec.standardPlan();
    List<StagePlan> plans = TrainCommand.withSteps(base, Stage.CLIP, 3000);

    assertEquals(Stage.CLIP, plans.get(0).stage());
    assertEquals(3000, plans.get(0).steps());
    assertEquals(
        Math.round((double) base.get(0).warmupSteps() * 3000 / base.get(0).steps()),
        plans.get(0).warmupSteps());
    assertEquals(base.subList(1, base.size()), plans.subList(1, plans.size()));
    assertThrows(
        IllegalArgumentException.class, () -> TrainCommand.withSteps(base, Stage.CLIP, -1));
  }

  @Test
  void stepsSetsTheNamedStageOnly() {
    List<StagePlan> base = TrainingSpec.standardPlan();
    List<StagePlan> plans = TrainCommand.withSteps(base, Stage.INSTRUCT, 3000);

    StagePlan instruct = plans.get(3);
    assertEquals(Stage.INSTRUCT, instruct.stage());
    assertEquals(3000, instruct.steps());
    assertEquals(
        Math.round((double) base.get(3).warmupSteps() * 3000 / base.get(3).steps()),
        instruct.warmupSteps());
    assertEquals(base.subList(0, 3), plans.subList(0, 3));
  }

  @Test
  void learningRateSetsTheNamedStagesPeakOnly() {
    List<StagePlan> base = TrainingSpec.standardPlan();
    List<StagePlan> plans = TrainCommand.withLearningRate(base, Stage.INSTRUCT, 3e-4);

    StagePlan instruct = plans.get(3);
    assertEquals(3e-4, instruct.learningRate());
    assertEquals(base.get(3).steps(), instruct.steps());
    assertEquals(base.get(3).warmupSteps(), instruct.warmupSteps());
    assertEquals(3e-5, instruct.learningRate(instruct.steps()), 1e-12);
    assertEquals(base.subList(0, 3), plans.subList(0, 3));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> TrainCommand.withLearningRate(base, Stage.ALIGN, 0));
    assertTrue(e.getMessage().contains("align"), e.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> TrainCommand.withLearningRate(base, Stage.ALIGN, Double.POSITIVE_INFINITY));
  }

  @Test
  void aSmokeRunWithThePatchObjectiveTrainsTheTowerWithoutATextEncoder() {
    Path dir = tmp.resolve("patches");
    Cli.Run run =
        Cli.run(
            "train",
            "--preset",
            "smoke",
            "--steps-scale",
            "0.1",
            "--clip-objective",
            "patches",
            "--out",
            dir.toString());

    assertEquals(0, run.exit(), run.err() + run.out());
    assertTrue(Files.exists(dir.resolve("final").resolve("model.safetensors")), run.out());
  }

  @Test
  void aNonPositiveStepsScaleIsNamed() {
    Cli.Run run =
        Cli.run("train", "--preset", "smoke", "--steps-scale", "-1", "--out", tmp.toString());

    assertEquals(2, run.exit());
    assertTrue(run.errorLine().contains("--steps-scale"), run.err());
  }

  @Test
  void aSmokeRunWithGroundingWritesItsCheckpointAndANegativeWeightIsNamed() {
    Path dir = tmp.resolve("grounded");
    Cli.Run run =
        Cli.run(
            "train",
            "--preset",
            "smoke",
            "--steps-scale",
            "0.1",
            "--grounding",
            "0.5",
            "--out",
            dir.toString());
    assertEquals(0, run.exit(), run.err() + run.out());
    assertTrue(Files.exists(dir.resolve("final").resolve("model.safetensors")), run.out());

    Cli.Run bad =
        Cli.run("train", "--preset", "smoke", "--grounding", "-0.5", "--out", tmp.toString());
    assertEquals(2, bad.exit());
    assertTrue(bad.errorLine().contains("--grounding"), bad.err());
  }

  @Test
  void initFromFineTunesTheSmokeRunsFinalModelWithKindSweepsSkippingTheEarlierStages() {
    assertEquals(0, trained.exit(), trained.err());
    Path dir = tmp.resolve("tuned");
    Cli.Run run =
        Cli.run(
            "train",
            "--preset",
            "smoke",
            "--init-from",
            out.resolve("final").toString(),
            "--kind-sweep",
            "0.3",
            "--steps",
            "instruct=4",
            "--out",
            dir.toString());

    assertEquals(0, run.exit(), run.err() + run.out());
    assertTrue(run.out().contains("starting from " + out.resolve("final")), run.out());
    assertTrue(run.out().contains("feature alignment (projector only): 0 steps"), run.out());
    assertTrue(
        run.out().contains("instruction tuning (projector + language model): 4 steps"), run.out());
    assertTrue(Files.exists(dir.resolve("final").resolve("model.safetensors")), run.out());

    Cli.Run both =
        Cli.run(
            "train",
            "--preset",
            "smoke",
            "--init-from",
            out.resolve("final").toString(),
            "--vision-tower",
            out.resolve("clip").toString(),
            "--out",
            tmp.resolve("both").toString());
    assertEquals(2, both.exit());
    assertTrue(both.errorLine().contains("--init-from"), both.err());
    assertSmokeRunRefused(
        tmp.resolve("much"), "--kind-sweep", "--inventory", "0.5", "--kind-sweep", "0.6");
    assertSmokeRunRefused(
        tmp.resolve("sweeps"),
        "--color-sweep must be in [0, 1 - --inventory",
        "--kind-sweep",
        "0.5",
        "--color-sweep",
        "0.6");
    assertSmokeRunRefused(
        tmp.resolve("positions"),
        "--position-sweep must be in [0, 1 - --inventory",
        "--color-sweep",
        "0.5",
        "--position-sweep",
        "0.6");
    assertSmokeRunRefused(
        tmp.resolve("wide-positions"),
        "--wide-position-sweeps must be in [0, 1], got -0.5",
        "--wide-position-sweeps",
        "-0.5");
    assertSmokeRunRefused(
        tmp.resolve("repeats"),
        "--repeated-count must be in [0, 1], got 1.5",
        "--repeated-count",
        "1.5");
    assertSmokeRunRefused(
        tmp.resolve("wide"), "--wide-colors must be in [0, 1], got -0.5", "--wide-colors", "-0.5");
  }

  /** `train --preset smoke FLAGS --out OUT` exits 2 with an error line containing `message`. */
  private static void assertSmokeRunRefused(Path out, String message, String... flags) {
    List<String> args = new ArrayList<>(List.of("train", "--preset", "smoke"));
    args.addAll(List.of(flags));
    args.addAll(List.of("--out", out.toString()));
    Cli.Run run = Cli.run(args.toArray(String[]::new));
    assertEquals(2, run.exit(), run.err());
    assertTrue(run.errorLine().contains(message), run.err());
  }

  @Test
  void imageGridPinpointsTurnTheSmokeModelIntoALlavaNextThatTilesAndAnswers() throws Exception {
    assertEquals(0, trained.exit(), trained.err());
    Path dir = tmp.resolve("next");
    String pinpoints = "32x32,32x64,64x32,32x96,96x32";
    Cli.Run run =
        Cli.run(
            "train",
            "--preset",
            "smoke",
            "--init-from",
            out.resolve("final").toString(),
            "--image-grid-pinpoints",
            pinpoints,
            "--steps",
            "instruct=4",
            "--out",
            dir.toString());
    assertEquals(0, run.exit(), run.err() + run.out());
    Path fin = dir.resolve("final");
    try (LlavaModel m = LlavaModel.load(fin, ModelOptions.defaults().withKvCacheBytes(4 << 20))) {
      assertEquals("llava_next", m.config().modelType());
      Sample sample = new WorldDatasets(3, TrainCommand.SIZES).vqa(QuestionType.SHAPE);
      var pixels = m.preprocess(SceneRenderer.png(sample.scene()));
      assertTrue(pixels.tiles() > 1, "a base tile and its grid: " + pixels.tiles());
      int[] ids =
          m.chatPrompt(
                  List.of(
                      ChatMessage.of(
                          "user",
                          ContentPart.image(),
                          ContentPart.text(sample.turns().get(0).question()))))
              .ids();
      GenerationResult r =
          new Generator(m).generate(ids, List.of(pixels), SamplingParams.greedy(4), piece -> {});
      assertFalse(r.tokens().isEmpty());
    }

    Cli.Run plain =
        Cli.run("train", "--preset", "smoke", "--steps", "instruct=5", "--out", dir.toString());
    assertEquals(2, plain.exit(), plain.err() + plain.out());
    assertTrue(plain.errorLine().contains("--image-grid-pinpoints"), plain.err());
    // Not whole tiles of the 32 px tower; not HEIGHTxWIDTH.
    for (String[] wrong : new String[][] {{"32x48", "32 px tiles"}, {"32by64", "--image-grid"}}) {
      Cli.Run bad =
          Cli.run(
              "train",
              "--preset",
              "smoke",
              "--image-grid-pinpoints",
              wrong[0],
              "--out",
              tmp.resolve("bad").toString());
      assertEquals(2, bad.exit(), bad.err());
      assertTrue(bad.errorLine().contains(wrong[1]), bad.err());
    }
  }

  /**
   * The built-in recipe at a smoke scale: every phase in its folder, started from the one before,
   * the last a llava_next; started again it skips every phase done and leaves the weights as they
   * are; a phase's own flag is refused with it.
   */
  @Test
  void theBuiltInRecipeRunsEveryPhaseOnceFromTheOneBefore() throws Exception {
    Path dir = tmp.resolve("recipe");
    String[] args = {
      "train",
      "--recipe",
      "built-in",
      "--preset",
      "smoke",
      "--steps-scale",
      "0.002",
      "--out",
      dir.toString()
    };
    Cli.Run run = Cli.run(args);
    assertEquals(0, run.exit(), run.err() + run.out());
    List<TrainRecipe.Phase> phases = TrainRecipe.builtIn(dir, 32, 0.002);
    assertEquals(9, phases.size());
    for (int i = 1; i <= phases.size(); i++) {
      assertTrue(run.out().contains("recipe phase " + i + "/9: train --out"), run.out());
    }
    assertTrue(
        run.out().contains("--init-from " + dir.resolve("next").resolve("final")), run.out());
    assertTrue(run.out().contains("--image-grid-pinpoints 32x32,32x64,64x32"), run.out());
    assertTrue(
        run.out().contains("--init-from " + dir.resolve("next2").resolve("final")), run.out());
    assertTrue(
        run.out().contains("--question-weights count=1.5,position=2.5,attribute_count=2"),
        run.out());
    assertTrue(run.out().contains("question types drawn: count=0.167,"), run.out());
    assertTrue(
        run.out().contains("--init-from " + dir.resolve("next4").resolve("final")), run.out());
    assertTrue(run.out().contains("--tune-tower 0.1"), run.out());
    assertTrue(run.out().contains("--repeated-count 0.15"), run.out());
    assertTrue(
        run.out().contains("--init-from " + dir.resolve("next5").resolve("final")), run.out());
    assertTrue(run.out().contains("--wide-colors 0.5"), run.out());
    assertTrue(run.out().contains("resuming"), "the second phase goes on from the first's state");
    Path fin = dir.resolve(TrainRecipe.LAST).resolve("final");
    assertTrue(run.out().contains("built-in recipe done: " + fin), run.out());
    assertEquals(9, Files.readAllLines(dir.resolve(TrainRecipe.DONE)).size());
    try (LlavaModel m = LlavaModel.load(fin, ModelOptions.defaults().withKvCacheBytes(4 << 20))) {
      assertEquals("llava_next", m.config().modelType());
    }
    byte[] weights = Files.readAllBytes(fin.resolve("model.safetensors"));

    Cli.Run again = Cli.run(args);
    assertEquals(0, again.exit(), again.err() + again.out());
    assertTrue(again.out().contains("recipe phase 9/9 done already"), again.out());
    assertFalse(again.out().contains("resuming"), again.out());
    assertTrue(
        java.util.Arrays.equals(weights, Files.readAllBytes(fin.resolve("model.safetensors"))));

    Cli.Run mixed =
        Cli.run(
            "train",
            "--recipe",
            "built-in",
            "--inventory",
            "0.5",
            "--out",
            tmp.resolve("mixed").toString());
    assertEquals(2, mixed.exit(), mixed.err());
    assertTrue(mixed.errorLine().contains("--inventory does not go with --recipe"), mixed.err());
    Cli.Run unknown = Cli.run("train", "--recipe", "mine", "--out", tmp.resolve("mine").toString());
    assertEquals(2, unknown.exit(), unknown.err());
    assertTrue(unknown.errorLine().contains("--recipe must be built-in"), unknown.err());
  }
}
