package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.training.world.Facts.Truth;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FactsTest {

  private static PlacedShape shape(ShapeKind kind, ShapeColor color, double x, double y) {
    return new PlacedShape(kind, color, color.baseRgb(), x, y, 60);
  }

  /** 400 x 300: a red circle top left, a blue square bottom right, a red star in the middle. */
  private static Scene scene() {
    return new Scene(
        400,
        300,
        0xF0F0F0,
        List.of(
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 50),
            shape(ShapeKind.SQUARE, ShapeColor.BLUE, 340, 240),
            shape(ShapeKind.STAR, ShapeColor.RED, 200, 150)));
  }

  private static Map<String, Truth> judged(Scene scene) {
    Map<String, Truth> out = new HashMap<>();
    for (Facts.Fact f : Facts.every()) {
      out.put(f.text(), f.of(scene));
    }
    return out;
  }

  @Test
  void factsOfAKnownSceneAreJudgedAsTheSceneShows() {
    Map<String, Truth> t = judged(scene());
    assertEquals(Truth.TRUE, t.get("a red circle"));
    assertEquals(Truth.FALSE, t.get("a blue circle"));
    assertEquals(Truth.TRUE, t.get("a red circle at the top left"));
    assertEquals(Truth.FALSE, t.get("a red circle at the top"));
    assertEquals(Truth.TRUE, t.get("a blue square at the bottom right"));
    assertEquals(Truth.TRUE, t.get("a red star in the center"));
    assertEquals(Truth.TRUE, t.get("three shapes"));
    assertEquals(Truth.FALSE, t.get("two shapes"));
    assertEquals(Truth.TRUE, t.get("two red shapes"));
    assertEquals(Truth.TRUE, t.get("no green shapes"));
    assertEquals(Truth.FALSE, t.get("one red shape"));
    assertEquals(Truth.TRUE, t.get("one circle"));
    assertEquals(Truth.TRUE, t.get("no triangles"));
    assertEquals(Truth.TRUE, t.get("a red circle left of a blue square"));
    assertEquals(Truth.FALSE, t.get("a blue square left of a red circle"));
    assertEquals(Truth.TRUE, t.get("a red star left of a blue square"));
    // A shape that is not there makes every statement about it false.
    assertEquals(Truth.FALSE, t.get("a green star left of a blue square"));
  }

  @Test
  void ambiguousOrTooCloseShapesLeaveLeftOfUndecided() {
    Scene twins =
        new Scene(
            400,
            300,
            0xFFFFFF,
            List.of(
                shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 50),
                shape(ShapeKind.CIRCLE, ShapeColor.RED, 340, 50),
                shape(ShapeKind.SQUARE, ShapeColor.BLUE, 200, 200)));
    assertEquals(Truth.UNDECIDED, judged(twins).get("a red circle left of a blue square"));
    Scene close =
        new Scene(
            400,
            300,
            0xFFFFFF,
            List.of(
                shape(ShapeKind.CIRCLE, ShapeColor.RED, 200, 50),
                shape(ShapeKind.SQUARE, ShapeColor.BLUE, 230, 200)));
    // 30 px apart is under the questions' 15% of 400 px
    assertEquals(Truth.UNDECIDED, judged(close).get("a red circle left of a blue square"));
  }

  @Test
  void drawnFactsAreKnownTextsWithTrueOnesAndNearMissesForEveryScene() {
    Set<String> every = new HashSet<>();
    for (Facts.Fact f : Facts.every()) {
      assertTrue(every.add(f.text()), () -> "two facts read " + f.text());
    }
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 1024));
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < 500; i++) {
      Scene scene = generator.next(random);
      List<Facts.Fact> drawn = Facts.about(scene, random);
      int yes = 0;
      int no = 0;
      Set<String> texts = new HashSet<>();
      for (Facts.Fact f : drawn) {
        assertTrue(every.contains(f.text()), () -> f.text() + " is not among Facts.every()");
        assertTrue(texts.add(f.text()), () -> "drawn twice: " + f.text());
        Truth t = f.of(scene);
        yes += t == Truth.TRUE ? 1 : 0;
        no += t == Truth.FALSE ? 1 : 0;
      }
      // every shape's Has, the count and the colour count are true
      long names = scene.shapes().stream().map(PlacedShape::name).distinct().count();
      assertTrue(yes >= names + 2, "true facts of " + scene);
      // at least the recoloured and reshaped near misses are false
      assertTrue(no >= 2, "near misses of " + scene);
      for (PlacedShape s : scene.shapes()) {
        String has = s.color().article() + " " + s.color().word() + " " + s.kind().word();
        assertTrue(texts.contains(has), has + " not drawn for " + scene);
      }
    }
  }

  @Test
  void leftOfInBothOrdersDisagreesWheneverDecided() {
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 1024));
    SplittableRandom random = new SplittableRandom(5);
    int decided = 0;
    for (int i = 0; i < 300; i++) {
      Scene scene = generator.next(random);
      for (PlacedShape a : scene.shapes()) {
        for (PlacedShape b : scene.shapes()) {
          if (a == b) {
            continue;
          }
          Truth ab = new Facts.LeftOf(a.color(), a.kind(), b.color(), b.kind()).of(scene);
          Truth ba = new Facts.LeftOf(b.color(), b.kind(), a.color(), a.kind()).of(scene);
          if (ab != Truth.UNDECIDED) {
            decided++;
            assertEquals(ab == Truth.TRUE ? Truth.FALSE : Truth.TRUE, ba);
            assertEquals(ab == Truth.TRUE, a.centerX() < b.centerX());
          }
        }
      }
    }
    assertTrue(decided > 300, "only " + decided + " decided pairs");
  }
}
