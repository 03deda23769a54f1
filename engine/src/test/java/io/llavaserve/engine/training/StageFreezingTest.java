package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * What each stage learns, by its effect: after a few real steps, the parameters a stage freezes are
 * bit for bit what was loaded and every one it trains has moved. The expectations are written from
 * the recipe (LLaVA stage 1 trains the projector, stage 2 the projector and the language model, the
 * tower never; stage 0a the CLIP tower and text encoder, stage 0b the language model), not read
 * back from {@link Stage}.
 */
class StageFreezingTest {

  private static final String TOWER = "vision_tower.";
  private static final String PROJECTOR = "multi_modal_projector.";
  private static final String CLIP_TEXT = "clip.";

  private final TrainingFixture fx = TrainingFixture.get();

  private static boolean isLanguageModel(String name) {
    return name.startsWith("language_model.") || name.equals(Towers.WORLD_EMBED);
  }

  @Test
  void featureAlignmentMovesOnlyTheProjector() {
    Map<String, float[]> before = fx.initialValues();
    try (StageSession s = fx.session(Stage.ALIGN, before)) {
      fx.train(s, 3, 4);
      Map<String, float[]> after = s.parameters();
      assertReads(after, n -> !n.startsWith(CLIP_TEXT), "alignment");
      assertMovedExactly(before, after, n -> n.startsWith(PROJECTOR));
      assertEquals(
          slots(after, n -> n.startsWith(PROJECTOR)),
          new TreeSet<>(s.moments().keySet()),
          "alignment keeps optimizer moments for the projector only");
    }
  }

  @Test
  void instructionTuningMovesTheProjectorAndLanguageModelButNotTheTower() {
    Map<String, float[]> before = fx.initialValues();
    try (StageSession s = fx.session(Stage.INSTRUCT, before)) {
      fx.train(s, 3, 4);
      Map<String, float[]> after = s.parameters();
      assertReads(after, n -> !n.startsWith(CLIP_TEXT), "instruction tuning");
      assertMovedExactly(before, after, n -> n.startsWith(PROJECTOR) || isLanguageModel(n));
    }
  }

  @Test
  void aTunedTowerLearnsUpToTheFeatureLayerAtItsShareOfTheRate() {
    Map<String, float[]> before = fx.initialValues();
    // Hidden state -2 is the output of the next-to-last layer: the last layer and the
    // post-LayerNorm never reach the projector, so they get no gradient and stay.
    int used = fx.spec.config().visionLayersUsed();
    int layers = fx.spec.config().vision().numHiddenLayers();
    assertEquals(layers - 1, used, "the fixture reads the penultimate layer");
    Predicate<String> towerUsed =
        n ->
            n.startsWith(TOWER)
                && !n.contains("post_layernorm")
                && !n.startsWith(TOWER + "vision_model.encoder.layers." + (layers - 1) + ".");
    Map<String, float[]> full;
    try (StageSession s = fx.session(Stage.INSTRUCT, 1.0, before)) {
      fx.train(s, 1, 4);
      full = s.parameters();
      assertMovedExactly(
          before, full, n -> n.startsWith(PROJECTOR) || isLanguageModel(n) || towerUsed.test(n));
    }
    try (StageSession s = fx.session(Stage.INSTRUCT, 0.1, before)) {
      fx.train(s, 1, 4);
      Map<String, float[]> tenth = s.parameters();
      // One Adam step from fresh moments is the rate times a function of the gradient alone, and
      // the first gradient does not depend on the rate: a tenth of the rate, a tenth of the step.
      String weight = TOWER + "vision_model.encoder.layers.0.self_attn.q_proj.weight";
      String projector = PROJECTOR + "linear_1.weight";
      float[] b = before.get(weight);
      float[] f = full.get(weight);
      float[] t = tenth.get(weight);
      for (int i = 0; i < b.length; i += 97) {
        assertEquals((f[i] - b[i]) * 0.1, t[i] - b[i], 1e-6 + Math.abs(f[i] - b[i]) * 1e-3, weight);
      }
      assertTrue(java.util.Arrays.equals(full.get(projector), tenth.get(projector)), projector);
    }
  }

  @Test
  void languageModelPretrainingNeitherReadsNorMovesTheTowerOrProjector() {
    Map<String, float[]> before = fx.initialValues();
    try (StageSession s = fx.session(Stage.TEXT, before)) {
      fx.train(s, 3, 4);
      Map<String, float[]> after = s.parameters();
      assertReads(after, StageFreezingTest::isLanguageModel, "text pretraining");
      assertMovedExactly(before, after, StageFreezingTest::isLanguageModel);
    }
  }

  @Test
  void contrastiveTowerTrainingNeitherReadsNorMovesTheLanguageModel() {
    Map<String, float[]> all = fx.initialValues();
    // Loading succeeds without any language-model or projector value: the graph has no slot for
    // them, so they cannot be read (Parameters.load insists on a value for every variable).
    Map<String, float[]> towerOnly = new java.util.LinkedHashMap<>();
    all.forEach(
        (n, v) -> {
          if (n.startsWith(TOWER) || n.startsWith(CLIP_TEXT)) {
            towerOnly.put(n, v.clone());
          }
        });
    try (StageSession s = new StageSession(Stage.CLIP, fx.spec, fx.vocabulary, 0.01, 1.0, 1)) {
      s.load(towerOnly, Map.of());
      for (int step = 0; step < 3; step++) {
        BatchSource.ClipBatch b = fx.data.clipBatch(step, 4);
        s.clipStep(
            b,
            3e-3f,
            TrainingFixture.corrections(AdamW.BETA1, step),
            TrainingFixture.corrections(AdamW.BETA2, step));
      }
      Map<String, float[]> after = s.parameters();
      assertEquals(towerOnly.keySet(), after.keySet(), "the CLIP stage reads the tower and clip.*");
      // The tower's post-LayerNorm and the whole text side feed the contrastive loss; of the
      // tower's layers, all are used here (LLaVA's feature layer is not the last).
      assertMovedExactly(towerOnly, after, n -> true);
    }
  }

  /** The session holds exactly the parameters {@code read} selects of all there are. */
  private void assertReads(Map<String, float[]> session, Predicate<String> read, String what) {
    Set<String> expected = new TreeSet<>();
    fx.spec.shapes(fx.vocabulary).keySet().stream().filter(read).forEach(expected::add);
    assertEquals(expected, new TreeSet<>(session.keySet()), what + " reads");
  }

  /** Every parameter {@code trained} selects has moved; every other one is bit-identical. */
  private static void assertMovedExactly(
      Map<String, float[]> before, Map<String, float[]> after, Predicate<String> trained) {
    int moved = 0;
    for (Map.Entry<String, float[]> e : after.entrySet()) {
      String n = e.getKey();
      boolean same = java.util.Arrays.equals(before.get(n), e.getValue());
      if (trained.test(n)) {
        assertFalse(same, n + " should have been trained");
        moved++;
      } else if (!same) {
        fail(
            n
                + " is frozen in this stage but changed by "
                + TrainingFixture.maxAbsDiff(before.get(n), e.getValue()));
      }
    }
    assertTrue(moved > 0, "some parameter must be trained");
  }

  private static Set<String> slots(Map<String, float[]> params, Predicate<String> trained) {
    Set<String> out = new TreeSet<>();
    for (String n : params.keySet()) {
      if (trained.test(n)) {
        out.addAll(List.of("adam_m/" + n, "adam_v/" + n));
      }
    }
    return out;
  }
}
