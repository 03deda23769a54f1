package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.training.world.Blobs.Blob;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Every short answer checked against the rendered pixels, read by {@link Blobs} and answered by
 * {@link PixelOracle}, over a few hundred scenes from 64 to 1024 pixels a side and aspect ratios up
 * to 16:1.
 */
class RenderedAnswersTest {

  /** Fixed sizes at the corners of the range, then random ones. */
  private static final int[][] SIDES = {
    {64, 64}, {1024, 1024}, {64, 1024}, {1024, 64}, {64, 200}, {333, 64}, {97, 71}, {640, 480}
  };

  static List<Scene> scenes(int count, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    SceneGenerator any = new SceneGenerator(new SizeRange(64, 1024));
    List<Scene> scenes = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      if (i % 2 == 0) {
        int[] side = SIDES[(i / 2) % SIDES.length];
        scenes.add(any.next(side[0], side[1], random));
      } else {
        scenes.add(any.next(random));
      }
    }
    return scenes;
  }

  @Test
  void everyShortAnswerIsTrueOfTheRenderedImage() {
    assertEveryShortAnswerTrue(scenes(320, 11));
  }

  @Test
  void everyShortAnswerIsTrueOfTheRenderedImageWithFillsFromTheWideColourRanges() {
    SplittableRandom random = new SplittableRandom(13);
    SceneGenerator wide = new SceneGenerator(new SizeRange(64, 1024), 0, 1);
    List<Scene> scenes = new ArrayList<>();
    for (int i = 0; i < 320; i++) {
      Scene scene = wide.next(random);
      scene.shapes().forEach(s -> assertTrue(s.color().holds(s.rgb()), s::toString));
      scenes.add(scene);
    }
    assertEveryShortAnswerTrue(scenes);
  }

  private static void assertEveryShortAnswerTrue(List<Scene> scenes) {
    Map<QuestionType, Integer> asked = new EnumMap<>(QuestionType.class);
    Set<String> answersSeen = new HashSet<>();
    SplittableRandom random = new SplittableRandom(7);
    for (Scene scene : scenes) {
      List<Blob> blobs = Blobs.find(SceneRenderer.render(scene));
      assertMatchesScene(scene, blobs);
      PixelOracle oracle = new PixelOracle(blobs, scene.width());
      for (QuestionType type : QuestionType.values()) {
        for (int k = 0; k < 3; k++) {
          Questions.ask(scene, type, random)
              .ifPresent(
                  turn -> {
                    assertTrue(turn.question().endsWith(Questions.SHORT_ANSWER_PROMPT));
                    String question =
                        turn.question()
                            .substring(
                                0,
                                turn.question().length() - Questions.SHORT_ANSWER_PROMPT.length());
                    assertEquals(oracle.answer(question), turn.answer(), () -> question + scene);
                    asked.merge(type, 1, Integer::sum);
                    answersSeen.add(type + " " + turn.answer());
                  });
        }
      }
    }
    for (QuestionType type : QuestionType.values()) {
      assertTrue(asked.getOrDefault(type, 0) >= 100, () -> type + " asked only " + asked);
    }
    // Every answer value each type can give came up, so no branch went unchecked.
    for (String expected :
        List.of(
            "COUNT 1",
            "COUNT 4",
            "POSITION left",
            "POSITION right",
            "EXISTENCE yes",
            "EXISTENCE no",
            "ATTRIBUTE_COUNT 0",
            "ATTRIBUTE_COUNT 2",
            "SHAPE star",
            "SHAPE triangle",
            "COLOR orange",
            "COLOR purple")) {
      assertTrue(answersSeen.contains(expected), () -> expected + " never seen");
    }
  }

  @Test
  void everyKindAndColorIsReadBackAtTheSmallestAndLargestSizes() {
    for (ShapeKind kind : ShapeKind.values()) {
      for (ShapeColor color : ShapeColor.values()) {
        // 9.6 px in a 64 px image; 358.4 px in a 1024 px one; an off-grid centre on purpose.
        Scene small =
            new Scene(64, 64, 0xF0F0F0, List.of(shape(kind, color, 30.3, 33.7, 64 * 0.15)));
        Scene large =
            new Scene(1024, 1024, 0xEBEBEB, List.of(shape(kind, color, 500.5, 480.2, 1024 * 0.35)));
        assertMatchesScene(small, Blobs.find(SceneRenderer.render(small)));
        assertMatchesScene(large, Blobs.find(SceneRenderer.render(large)));
      }
    }
  }

  @Test
  void theCheckerRejectsAnImageThatDoesNotShowItsScene() {
    Scene drawn =
        new Scene(
            200,
            100,
            0xFFFFFF,
            List.of(
                shape(ShapeKind.CIRCLE, ShapeColor.RED, 40, 50, 30),
                shape(ShapeKind.TRIANGLE, ShapeColor.BLUE, 150, 50, 30)));
    List<Blob> blobs = Blobs.find(SceneRenderer.render(drawn));
    Scene star =
        new Scene(
            200,
            100,
            0xFFFFFF,
            List.of(
                shape(ShapeKind.CIRCLE, ShapeColor.RED, 40, 50, 30),
                shape(ShapeKind.STAR, ShapeColor.BLUE, 150, 50, 30)));
    Scene green =
        new Scene(
            200,
            100,
            0xFFFFFF,
            List.of(
                shape(ShapeKind.CIRCLE, ShapeColor.GREEN, 40, 50, 30),
                shape(ShapeKind.TRIANGLE, ShapeColor.BLUE, 150, 50, 30)));
    assertThrows(AssertionError.class, () -> assertMatchesScene(star, blobs));
    assertThrows(AssertionError.class, () -> assertMatchesScene(green, blobs));
    PixelOracle oracle = new PixelOracle(blobs, 200);
    assertEquals("red", oracle.answer("What color is the circle?"));
    assertEquals(
        "left",
        oracle.answer("Is the red circle to the left or to the right of the blue triangle?"));
    assertThrows(AssertionError.class, () -> oracle.answer("What color is the star?"));
  }

  private static PlacedShape shape(ShapeKind kind, ShapeColor color, double x, double y, double s) {
    return new PlacedShape(kind, color, color.baseRgb(), x, y, s);
  }

  /** One blob per shape, at its place, of its size, fill, colour and kind. */
  static void assertMatchesScene(Scene scene, List<Blob> blobs) {
    assertEquals(scene.shapes().size(), blobs.size(), () -> "blobs " + blobs + " for " + scene);
    for (PlacedShape shape : scene.shapes()) {
      double tolerance = Math.max(1.5, 0.03 * shape.size());
      List<Blob> near =
          blobs.stream()
              .filter(
                  b ->
                      Math.abs(b.centerX() - shape.centerX()) <= tolerance
                          && Math.abs(b.centerY() - shape.centerY()) <= tolerance)
              .toList();
      assertEquals(1, near.size(), () -> "blobs near " + shape + ": " + blobs);
      Blob blob = near.get(0);
      assertEquals(shape.rgb(), blob.fill(), () -> "fill of " + shape + " read as " + blob);
      assertEquals(shape.color().word(), blob.color(), () -> shape + " read as " + blob);
      assertEquals(shape.kind().word(), blob.kind(), () -> shape + " read as " + blob);
      assertEquals(shape.size(), blob.width(), 2.0, () -> "width of " + shape + ": " + blob);
    }
  }
}
