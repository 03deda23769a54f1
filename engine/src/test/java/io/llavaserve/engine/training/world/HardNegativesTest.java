package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HardNegativesTest {

  /** Both phrasings a true caption of {@code scene} can take. */
  private static Set<String> trueCaptions(Scene scene) {
    Set<String> out = new HashSet<>();
    SplittableRandom r = new SplittableRandom(1);
    for (int i = 0; i < 16; i++) {
      out.add(Instructions.caption(scene, r));
    }
    return out;
  }

  @Test
  void everyNegativeIsFalseOfItsSceneAndTheyDiffer() {
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 1024));
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 500; i++) {
      Scene scene = generator.next(random);
      List<String> negatives = HardNegatives.captions(scene, 3, random);
      assertEquals(3, negatives.size());
      Set<String> truth = trueCaptions(scene);
      for (String n : negatives) {
        assertFalse(truth.contains(n), () -> n + " is a true caption of " + scene);
      }
      Set<String> stripped = new HashSet<>();
      for (String n : negatives) {
        stripped.add(n.replaceFirst("^two shapes: ", ""));
      }
      assertEquals(3, stripped.size(), () -> "repeated negatives " + negatives);
    }
  }

  @Test
  void negativesIncludeSwappedBindingsAndChangedCounts() {
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 1024));
    SplittableRandom random = new SplittableRandom(11);
    boolean swappedColors = false;
    boolean otherCount = false;
    for (int i = 0; i < 300 && !(swappedColors && otherCount); i++) {
      Scene scene = generator.next(random);
      List<PlacedShape> truth = SceneFacts.leftToRight(scene);
      for (String n : HardNegatives.captions(scene, 3, random)) {
        long words = truth.size();
        long named = n.replaceFirst("^\\w+ shapes: ", "").split(", | and ").length;
        otherCount |= named != words;
        // Same colours and same kinds as the truth, in the same order of kinds: a binding swap.
        String kinds = truth.stream().map(s -> s.kind().word()).toList().toString();
        List<String> parts = List.of(n.replaceFirst("^\\w+ shapes: ", "").split(", | and "));
        if (parts.size() == truth.size()) {
          String negKinds =
              parts.stream().map(p -> p.substring(p.lastIndexOf(' ') + 1)).toList().toString();
          Set<String> negColors = new HashSet<>();
          parts.forEach(p -> negColors.add(p.split(" ")[1]));
          Set<String> colors = new HashSet<>();
          truth.forEach(s -> colors.add(s.color().word()));
          swappedColors |= negKinds.equals(kinds) && negColors.equals(colors);
        }
      }
    }
    assertTrue(swappedColors, "some negative exchanges two shapes' colours");
    assertTrue(otherCount, "some negative names another number of shapes");
  }
}
