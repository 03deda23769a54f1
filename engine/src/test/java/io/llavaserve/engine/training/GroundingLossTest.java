package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.training.world.PlacedShape;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldDatasets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The grounding loss: its targets name, for every patch a shape covers, that shape's colour and
 * kind words as the language model reads them; it trains what the stage trains and nothing else;
 * and training on it makes the projected patches read as their words.
 */
class GroundingLossTest {

  private final TrainingFixture fx = TrainingFixture.get();

  @Test
  void targetsNameTheShapeUnderEachPatch() {
    // The shipped spec's geometry: 128 px, 8 x 8 patches, one image position each.
    TrainingSpec spec = TrainingSpec.standard();
    BatchSource source =
        new BatchSource(
            TrainingFixture.SEED,
            new SizeRange(64, 1024),
            fx.encoder,
            fx.vocabulary,
            spec,
            io.llavaserve.engine.training.world.WorldMix.PLAIN,
            true);
    int side = spec.config().vision().imageSize();
    int grid = spec.config().vision().patchesPerSide();
    int positions = spec.config().imageSeqLength();
    WorldDatasets data = new WorldDatasets(5, new SizeRange(64, 1024));
    List<Scene> scenes = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      scenes.add(data.caption().scene());
    }
    TrainingBatch.Grounding g = source.grounding(scenes);
    assertTrue(g.size() > 40, "at least one covered patch per scene");
    Set<String> named = new HashSet<>();
    for (int r = 0; r < g.size(); r++) {
      int image = g.index()[r] / positions;
      int cell = g.index()[r] % positions;
      Scene scene = scenes.get(image);
      String color = word(g.color()[r]);
      String kind = word(g.kind()[r]);
      // The patch's middle, back in the scene's own pixels (padded to a square, then scaled).
      int square = Math.max(scene.width(), scene.height());
      double scale = (double) side / square;
      double x = ((cell % grid) + 0.5) * side / grid / scale - (square - scene.width()) / 2.0;
      double y = ((cell / grid) + 0.5) * side / grid / scale - (square - scene.height()) / 2.0;
      double patch = (double) square / grid;
      // A shape of that colour and kind whose box holds the patch's middle, or whose centre the
      // patch holds.
      PlacedShape under =
          scene.shapes().stream()
              .filter(s -> s.color().word().startsWith(color) && s.kind().word().startsWith(kind))
              .filter(
                  s ->
                      (x >= s.left() && x < s.right() && y >= s.top() && y < s.bottom())
                          || (Math.abs(s.centerX() - x) <= patch / 2 + 1e-9
                              && Math.abs(s.centerY() - y) <= patch / 2 + 1e-9))
              .findFirst()
              .orElseThrow(
                  () ->
                      new AssertionError(
                          "patch " + cell + " of " + scene + " is on no " + color + " " + kind));
      named.add(image + ":" + under.color() + under.kind());
    }
    // Every scene's largest shape is named somewhere (no larger one can take its patches).
    for (int i = 0; i < scenes.size(); i++) {
      PlacedShape largest =
          scenes.get(i).shapes().stream()
              .max(java.util.Comparator.comparingDouble(PlacedShape::size))
              .orElseThrow();
      assertTrue(named.contains(i + ":" + largest.color() + largest.kind()), "scene " + i);
    }
  }

  @Test
  void theWordsAreTheTokensTheLanguageModelReads() {
    // "red" is the first token of " red" inside "a red circle".
    int row = BatchSource.wordRow(fx.encoder, fx.vocabulary, "red");
    int[] inSentence = fx.encoder.caption("a red circle");
    assertEquals(fx.vocabulary.ids()[row], inSentence[1]);
    assertEquals("triangle", word(BatchSource.wordRow(fx.encoder, fx.vocabulary, "triangle")));
  }

  @Test
  void alignmentWithGroundingStillMovesOnlyTheProjector() {
    Map<String, float[]> before = fx.initialValues();
    BatchSource grounded = groundedSource();
    try (StageSession s = session(Stage.ALIGN, before)) {
      for (int step = 0; step < 3; step++) {
        TrainingBatch b = grounded.batch(Stage.ALIGN, step, 4);
        assertTrue(b.grounding().size() > 0);
        s.step(
            b,
            3e-3f,
            TrainingFixture.corrections(AdamW.BETA1, step),
            TrainingFixture.corrections(AdamW.BETA2, step));
      }
      Map<String, float[]> after = s.parameters();
      for (Map.Entry<String, float[]> e : after.entrySet()) {
        boolean same = Arrays.equals(before.get(e.getKey()), e.getValue());
        assertEquals(
            !e.getKey().startsWith("multi_modal_projector."), same, e.getKey() + " moved?");
      }
    }
  }

  @Test
  void theGroundingLossFallsAndAddsToTheAnswerLoss() {
    Map<String, float[]> before = fx.initialValues();
    BatchSource grounded = groundedSource();
    TrainingBatch probe = grounded.batch(Stage.ALIGN, 1000, 8);
    float plain;
    try (StageSession s = fx.session(Stage.ALIGN, before)) {
      plain = s.losses(probe)[0];
    }
    try (StageSession s = session(Stage.ALIGN, before)) {
      float[] start = s.losses(probe);
      assertEquals(plain, start[0], 1e-5, "the answer loss is LLaVA's");
      assertEquals(
          start[0] + 0.5f * start[1], start[2], 1e-4, "the objective adds the weighted term");
      for (int step = 0; step < 60; step++) {
        s.step(
            grounded.batch(Stage.ALIGN, step, 8),
            1e-2f,
            TrainingFixture.corrections(AdamW.BETA1, step),
            TrainingFixture.corrections(AdamW.BETA2, step));
      }
      float[] end = s.losses(probe);
      assertTrue(
          end[1] < 0.85 * start[1],
          "grounding loss " + start[1] + " -> " + end[1] + " on held-out");
      assertFalse(Float.isNaN(end[0]));
    }
  }

  private BatchSource groundedSource() {
    return new BatchSource(
        TrainingFixture.SEED,
        TrainingFixture.SIZES,
        fx.encoder,
        fx.vocabulary,
        fx.spec,
        io.llavaserve.engine.training.world.WorldMix.PLAIN,
        true);
  }

  private StageSession session(Stage stage, Map<String, float[]> values) {
    StageSession s = new StageSession(stage, 0, 0.5, fx.spec, fx.vocabulary, 0.01, 1.0, 1);
    Map<String, float[]> read = new java.util.LinkedHashMap<>();
    values.forEach(
        (n, v) -> {
          if (stage.reads(n)) {
            read.put(n, v.clone());
          }
        });
    s.load(read, Map.of());
    return s;
  }

  private String word(int row) {
    return fx.encoder.tokenizer().decode(new int[] {fx.vocabulary.ids()[row]}, true).strip();
  }
}
