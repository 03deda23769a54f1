package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.llavaserve.engine.training.world.PlacedShape;
import io.llavaserve.engine.training.world.Region;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.ShapeColor;
import io.llavaserve.engine.training.world.ShapeKind;
import io.llavaserve.engine.training.world.WorldMix;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The tower's supervised objective: labels land on the patch that holds each shape's centre in the
 * padded and resized frame, the label rows encode them one-hot, and the loss can be driven down on
 * a fixed batch (its gradients reach the tower).
 */
class PatchObjectiveTest {

  private final TrainingSpec spec = TrainingSpec.smoke().withPatches();
  private final SampleEncoder encoder =
      new SampleEncoder(
          LlamaTokenizer.bundledLlama(),
          ChatTemplate.vicunaV1(),
          spec.config().imageTokenIndex(),
          spec.config().imageSeqLength());
  private final WorldVocabulary vocabulary =
      BatchSource.vocabulary(
          encoder,
          TrainingFixture.SEED,
          TrainingFixture.SIZES,
          20,
          spec.config().text().vocabSize(),
          false,
          WorldMix.PLAIN);

  @Test
  void centresAreFoundInThePaddedFrame() {
    // 400 x 200 pads to 400 x 400 with the image pasted 100 rows down; resized to 256, patches of
    // 32: the red circle's centre (50, 50) lands at (32, 96) -> column 1, row 3; the blue star's
    // (350, 150) at (224, 160) -> column 7, row 5.
    Scene scene =
        new Scene(
            400,
            200,
            0xF0F0F0,
            List.of(
                new PlacedShape(ShapeKind.CIRCLE, ShapeColor.RED, 0xD72020, 50, 50, 70),
                new PlacedShape(ShapeKind.STAR, ShapeColor.BLUE, 0x2850DC, 350, 150, 40)));
    PatchTargets t = PatchTargets.of(scene, 256, 8);
    int circle = 3 * 8 + 1;
    int star = 5 * 8 + 7;
    for (int c = 0; c < 64; c++) {
      assertEquals(c == circle || c == star ? 1f : 0f, t.centre()[c], "patch " + c);
    }
    assertEquals(ShapeColor.RED.ordinal(), t.color()[circle]);
    assertEquals(ShapeKind.CIRCLE.ordinal(), t.kind()[circle]);
    assertEquals(Region.TOP_LEFT.ordinal(), t.region()[circle]);
    assertEquals(ShapeKind.STAR.ordinal(), t.kind()[star]);
    assertEquals(Region.BOTTOM_RIGHT.ordinal(), t.region()[star]);
    assertEquals(-1, t.kind()[0]);
    // The circle's box spans x 9.6 to 54.4 and y 73.6 to 118.4 in the frame: the middles of
    // columns 0 and 1 (16, 48) and rows 2 and 3 (80, 112) fall inside it.
    for (int c : new int[] {16, 17, 24, 25}) {
      assertEquals(ShapeKind.CIRCLE.ordinal(), t.kind()[c], "patch " + c);
    }
    assertEquals(-1, t.region()[16], "covered, not a centre");
    assertEquals(-1, t.kind()[8 + 1]);
    assertEquals(-1, t.kind()[3 * 8 + 2]);
    assertEquals(ShapeKind.STAR.ordinal(), t.kind()[star], "a small shape still has its centre");
    assertEquals(2, t.count());
    assertArrayEquals(new int[] {1, 0, 1, 0, 0, 0}, t.colorCounts());
    assertArrayEquals(new int[] {1, 0, 0, 1}, t.kindCounts());

    float[][] rows = PatchLoss.labels(List.of(t), false);
    int w = PatchLoss.PATCH_LABELS;
    float[] starRow = java.util.Arrays.copyOfRange(rows[0], star * w, (star + 1) * w);
    float sum = 0;
    for (float v : starRow) {
      sum += v;
    }
    assertEquals(5f, sum, "centre and covered flags and three one-hots");
    assertEquals(1f, starRow[2 + ShapeColor.BLUE.ordinal()]);
    assertEquals(1f, starRow[2 + PatchTargets.COLORS + ShapeKind.STAR.ordinal()]);
    float[] image = rows[1];
    assertEquals(PatchLoss.IMAGE_LABELS, image.length);
    assertEquals(1f, image[1], "two shapes: class 1 of the count head");
    float ones = 0;
    for (float v : image) {
      ones += v;
    }
    assertEquals(1 + PatchTargets.COLORS + PatchTargets.KINDS, ones, "one class per group");
  }

  @Test
  void everyPartOfAShapeCountsTheShapesThatShareItsColourAndKind() {
    // Two blue circles and a blue star, a red star; 256 x 256 at 8 x 8 patches of 32.
    Scene scene =
        new Scene(
            256,
            256,
            0xF0F0F0,
            List.of(
                new PlacedShape(ShapeKind.CIRCLE, ShapeColor.BLUE, 0x2850DC, 52, 52, 80),
                new PlacedShape(ShapeKind.CIRCLE, ShapeColor.BLUE, 0x2850DC, 204, 52, 80),
                new PlacedShape(ShapeKind.STAR, ShapeColor.BLUE, 0x2850DC, 52, 204, 80),
                new PlacedShape(ShapeKind.STAR, ShapeColor.RED, 0xD72020, 204, 204, 80)));
    PatchTargets t = PatchTargets.of(scene, 256, 8);
    int covered = 0;
    for (int c = 0; c < 64; c++) {
      if (t.kind()[c] < 0) {
        assertEquals(-1, t.colorShare()[c], "patch " + c);
        assertEquals(-1, t.kindShare()[c], "patch " + c);
        continue;
      }
      covered++;
      boolean blue = t.color()[c] == ShapeColor.BLUE.ordinal();
      assertEquals(blue ? 3 : 1, t.colorShare()[c], "patch " + c);
      assertEquals(2, t.kindShare()[c], "patch " + c);
    }
    assertEquals(36, covered, "nine patches a shape");

    float[][] rows = PatchLoss.labels(List.of(t), true);
    int w = PatchLoss.COUNT_PATCH_LABELS;
    assertEquals(64 * w, rows[0].length);
    int redStar = 6 * 8 + 6;
    assertEquals(ShapeColor.RED.ordinal(), t.color()[redStar]);
    float[] red = java.util.Arrays.copyOfRange(rows[0], redStar * w, (redStar + 1) * w);
    int at = PatchLoss.PATCH_LABELS;
    assertArrayEquals(
        new float[] {1, 0, 0, 0, 0, 1, 0, 0},
        java.util.Arrays.copyOfRange(red, at, at + 2 * Scene.MAX_SHAPES),
        "one red shape, two stars");
    int blueCircle = 1 * 8 + 1;
    float[] blue = java.util.Arrays.copyOfRange(rows[0], blueCircle * w, (blueCircle + 1) * w);
    assertArrayEquals(
        new float[] {0, 0, 1, 0, 0, 1, 0, 0},
        java.util.Arrays.copyOfRange(blue, at, at + 2 * Scene.MAX_SHAPES),
        "three blue shapes, two circles");
    float[] empty = java.util.Arrays.copyOfRange(rows[0], 4 * 8 * w - w, 4 * 8 * w);
    assertEquals(-1, t.kind()[4 * 8 - 1]);
    for (float v : empty) {
      assertEquals(0f, v, "an uncovered patch has no labels");
    }
    float[] plain = PatchLoss.labels(List.of(t), false)[0];
    for (int c = 0; c < 64; c++) {
      assertArrayEquals(
          java.util.Arrays.copyOfRange(
              plain, c * PatchLoss.PATCH_LABELS, (c + 1) * PatchLoss.PATCH_LABELS),
          java.util.Arrays.copyOfRange(rows[0], c * w, c * w + PatchLoss.PATCH_LABELS),
          "the patches objective's labels come first, unchanged");
    }
  }

  @Test
  void theSupervisedLossFitsAFixedBatch() {
    fitsAFixedBatch(spec);
  }

  @Test
  void theCountingLossFitsAFixedBatch() {
    TrainingSpec counts = TrainingSpec.smoke().withCounts();
    assertEquals(
        PatchLoss.COUNT_PATCH_LABELS,
        counts.shapes(vocabulary).get(PatchLoss.PATCH_HEAD + "bias")[0]);
    fitsAFixedBatch(counts);
  }

  private void fitsAFixedBatch(TrainingSpec spec) {
    BatchSource data =
        new BatchSource(TrainingFixture.SEED, TrainingFixture.SIZES, encoder, vocabulary, spec);
    assertTrue(data.patches());
    BatchSource.PatchBatch b = data.patchBatch(3, 8);
    Map<String, long[]> shapes = spec.shapes(vocabulary);
    assertTrue(shapes.keySet().stream().noneMatch(n -> n.startsWith(ClipLoss.TEXT)));
    Map<String, float[]> values =
        Initializer.values(shapes, spec.config().text().numHiddenLayers(), 5);
    try (StageSession s = new StageSession(Stage.CLIP, spec, vocabulary, 0.0, 1.0, 1)) {
      s.load(TrainingFixture.readBy(Stage.CLIP, values), Map.of());
      StageSession.StepResult[] run =
          TrainingFixture.fit(120, (c1, c2) -> s.patchStep(b, 3e-3f, c1, c2));
      StageSession.StepResult first = run[0];
      StageSession.StepResult last = run[1];
      assertTrue(last.loss() < 0.3 * first.loss(), "loss " + first.loss() + " -> " + last.loss());
      assertTrue(last.accuracy() > 0.9, "kind accuracy at centres " + last.accuracy());
    }
  }
}
