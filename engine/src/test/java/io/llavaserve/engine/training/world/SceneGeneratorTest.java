package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SceneGeneratorTest {

  @Test
  void everySceneKeepsItsShapesApartInsideAndSizedToTheShorterSide() {
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 1024));
    SplittableRandom random = new SplittableRandom(3);
    int[] byCount = new int[5];
    Set<ShapeKind> kinds = EnumSet.noneOf(ShapeKind.class);
    Set<ShapeColor> colors = EnumSet.noneOf(ShapeColor.class);
    double widest = 1;
    double tallest = 1;
    int grey = 0;
    int n = 3000;
    for (int i = 0; i < n; i++) {
      Scene scene = generator.next(random);
      assertWithinTheContract(scene);
      byCount[scene.shapes().size()]++;
      scene.shapes().forEach(s -> kinds.add(s.kind()));
      scene.shapes().forEach(s -> colors.add(s.color()));
      widest = Math.max(widest, (double) scene.width() / scene.height());
      tallest = Math.max(tallest, (double) scene.height() / scene.width());
      int bg = scene.background();
      if ((bg >> 16 & 0xFF) == (bg & 0xFF) && (bg >> 8 & 0xFF) == (bg & 0xFF)) {
        grey++;
      }
    }
    for (int count = 1; count <= 4; count++) {
      double share = (double) byCount[count] / n;
      int c = count;
      assertTrue(share > 0.2 && share < 0.3, () -> c + " shapes in " + share + " of scenes");
    }
    assertEquals(EnumSet.allOf(ShapeKind.class), kinds);
    assertEquals(EnumSet.allOf(ShapeColor.class), colors);
    assertTrue(widest > 8 && tallest > 8, "aspect ratios vary both ways");
    assertTrue(grey > 0.4 * n && grey < 0.7 * n, "about half the backgrounds are plain grey");
  }

  @Test
  void theTightestImagesStillGetFourShapesAndAlwaysFinish() {
    SplittableRandom random = new SplittableRandom(4);
    for (int[] side : new int[][] {{64, 64}, {64, 1024}, {1024, 64}}) {
      SceneGenerator generator = new SceneGenerator(SizeRange.square(64));
      int four = 0;
      for (int i = 0; i < 500; i++) {
        Scene scene = generator.next(side[0], side[1], random);
        assertEquals(side[0], scene.width());
        assertEquals(side[1], scene.height());
        assertWithinTheContract(scene);
        four += scene.shapes().size() == 4 ? 1 : 0;
      }
      assertTrue(four > 50, "four shapes in " + four + " of 500 scenes of " + side[0]);
    }
  }

  @Test
  void theSameRandomStateGivesTheSameScene() {
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 512));
    for (long seed = 0; seed < 20; seed++) {
      assertEquals(
          generator.next(new SplittableRandom(seed)), generator.next(new SplittableRandom(seed)));
    }
    assertNotEquals(
        generator.next(new SplittableRandom(1)), generator.next(new SplittableRandom(2)));
  }

  @Test
  void monochromeScenesShareOneColourAtTheGivenShareAndZeroKeepsThePlainStream() {
    SceneGenerator plain = new SceneGenerator(new SizeRange(64, 512));
    SceneGenerator none = new SceneGenerator(new SizeRange(64, 512), 0);
    for (long seed = 0; seed < 50; seed++) {
      assertEquals(plain.next(new SplittableRandom(seed)), none.next(new SplittableRandom(seed)));
    }
    SceneGenerator mixed = new SceneGenerator(new SizeRange(64, 512), 0.4);
    SplittableRandom random = new SplittableRandom(9);
    int several = 0;
    int oneColour = 0;
    Set<ShapeColor> colours = EnumSet.noneOf(ShapeColor.class);
    Set<ShapeKind> kinds = EnumSet.noneOf(ShapeKind.class);
    for (int i = 0; i < 4000; i++) {
      Scene scene = mixed.next(random);
      assertWithinTheContract(scene);
      if (scene.shapes().size() < 2) {
        continue;
      }
      several++;
      long distinct = scene.shapes().stream().map(PlacedShape::color).distinct().count();
      if (distinct == 1) {
        oneColour++;
        colours.add(scene.shapes().get(0).color());
        scene.shapes().forEach(s -> kinds.add(s.kind()));
      }
    }
    // One-colour by chance too: 1/6, 1/36, 1/216 of two, three, four plain shapes (~6% overall).
    double share = (double) oneColour / several;
    assertTrue(share > 0.40 && share < 0.49, () -> "one colour in " + share + " of scenes");
    assertEquals(EnumSet.allOf(ShapeColor.class), colours);
    assertEquals(EnumSet.allOf(ShapeKind.class), kinds);
    assertThrows(
        IllegalArgumentException.class, () -> new SceneGenerator(SizeRange.square(64), 1.5));
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(-0.1, 0, 0, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM));
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, Double.NaN, 0, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM));
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 1.01, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM));
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0, -1, 0, 0, 0, 0, QuestionWeights.UNIFORM));
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0.6, 0.5, 0, 0, 0, 0, QuestionWeights.UNIFORM));
  }

  @Test
  void wideColourScenesComeAtTheGivenShareAndZeroKeepsThePlainStream() {
    SceneGenerator plain = new SceneGenerator(new SizeRange(64, 512), 0.2);
    SceneGenerator none = new SceneGenerator(new SizeRange(64, 512), 0.2, 0);
    for (long seed = 0; seed < 50; seed++) {
      assertEquals(plain.next(new SplittableRandom(seed)), none.next(new SplittableRandom(seed)));
    }
    SceneGenerator mixed = new SceneGenerator(new SizeRange(64, 512), 0, 0.5);
    SplittableRandom random = new SplittableRandom(4);
    int wide = 0;
    int scenes = 3000;
    for (int i = 0; i < scenes; i++) {
      Scene scene = mixed.next(random);
      assertWithinTheContract(scene);
      boolean anyOffBase = false;
      for (PlacedShape s : scene.shapes()) {
        assertTrue(s.color().holds(s.rgb()) || nearBase(s), s::toString);
        anyOffBase |= !nearBase(s);
      }
      if (anyOffBase) {
        wide++;
      }
    }
    // A wide fill lands within the base's jitter now and then, so slightly under half.
    double share = (double) wide / scenes;
    assertTrue(share > 0.42 && share < 0.55, () -> "wide fills in " + share + " of scenes");
    assertThrows(
        IllegalArgumentException.class, () -> new SceneGenerator(SizeRange.square(64), 0, -0.1));
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM, 1.5, 0));
  }

  private static boolean nearBase(PlacedShape s) {
    for (int shift = 16; shift >= 0; shift -= 8) {
      int d = (s.rgb() >> shift & 0xFF) - (s.color().baseRgb() >> shift & 0xFF);
      if (Math.abs(d) > ShapeColor.JITTER) {
        return false;
      }
    }
    return true;
  }

  @Test
  void aSceneRejectsWhatBreaksTheContract() {
    PlacedShape a = new PlacedShape(ShapeKind.CIRCLE, ShapeColor.RED, 0xFF0000, 30, 30, 20);
    PlacedShape b = new PlacedShape(ShapeKind.SQUARE, ShapeColor.BLUE, 0x0000FF, 70, 30, 20);
    new Scene(100, 100, 0xFFFFFF, List.of(a, b));
    PlacedShape touching = new PlacedShape(ShapeKind.SQUARE, ShapeColor.BLUE, 0x0000FF, 52, 30, 20);
    PlacedShape outside = new PlacedShape(ShapeKind.SQUARE, ShapeColor.BLUE, 0x0000FF, 89, 30, 20);
    PlacedShape tiny = new PlacedShape(ShapeKind.SQUARE, ShapeColor.BLUE, 0x0000FF, 70, 30, 14);
    PlacedShape huge = new PlacedShape(ShapeKind.SQUARE, ShapeColor.BLUE, 0x0000FF, 70, 50, 36);
    assertThrows(IllegalArgumentException.class, () -> scene(a, touching));
    assertThrows(IllegalArgumentException.class, () -> scene(a, outside));
    assertThrows(IllegalArgumentException.class, () -> scene(a, tiny));
    assertThrows(IllegalArgumentException.class, () -> scene(a, huge));
    assertThrows(IllegalArgumentException.class, () -> scene());
    assertThrows(IllegalArgumentException.class, () -> scene(a, a, a, a, a));
    assertThrows(IllegalArgumentException.class, () -> new Scene(100, 100, 0x808080, List.of(a)));
    assertThrows(IllegalArgumentException.class, () -> new Scene(63, 100, 0xFFFFFF, List.of(a)));
    assertThrows(IllegalArgumentException.class, () -> new SizeRange(63, 100));
    assertThrows(IllegalArgumentException.class, () -> new SizeRange(64, 1025));
    assertThrows(IllegalArgumentException.class, () -> new SizeRange(200, 100));
  }

  private static Scene scene(PlacedShape... shapes) {
    return new Scene(100, 100, 0xFFFFFF, List.of(shapes));
  }

  /** The contract checked again here, independently of the compact constructor. */
  static void assertWithinTheContract(Scene scene) {
    double shorter = Math.min(scene.width(), scene.height());
    double margin = Math.max(2, 0.02 * shorter);
    assertTrue(scene.shapes().size() >= 1 && scene.shapes().size() <= 4);
    for (int i = 0; i < scene.shapes().size(); i++) {
      PlacedShape s = scene.shapes().get(i);
      assertTrue(s.size() >= 0.15 * shorter - 1e-6 && s.size() <= 0.35 * shorter + 1e-6);
      double half = s.size() / 2 + margin;
      assertTrue(s.centerX() - half >= -1e-6 && s.centerX() + half <= scene.width() + 1e-6);
      assertTrue(s.centerY() - half >= -1e-6 && s.centerY() + half <= scene.height() + 1e-6);
      for (int j = 0; j < i; j++) {
        PlacedShape t = scene.shapes().get(j);
        double apart = (s.size() + t.size()) / 2 + 2 * margin;
        assertTrue(
            Math.abs(s.centerX() - t.centerX()) >= apart
                || Math.abs(s.centerY() - t.centerY()) >= apart,
            () -> "overlap in " + scene);
      }
    }
  }
}
