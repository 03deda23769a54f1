package io.llavaserve.engine.training.world;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The questions a template may ask of a scene, answered from its shapes: counts, unique shapes,
 * left-to-right order. Every question and instruction template reads the scene through these few
 * methods, so their answers agree with one another.
 */
final class SceneFacts {

  private static final Comparator<PlacedShape> LEFT_TO_RIGHT =
      Comparator.comparingDouble(PlacedShape::centerX).thenComparingDouble(PlacedShape::centerY);

  private SceneFacts() {}

  /** The shapes ordered by the centre of their boxes, left to right (top first on a tie). */
  static List<PlacedShape> leftToRight(Scene scene) {
    return scene.shapes().stream().sorted(LEFT_TO_RIGHT).toList();
  }

  static int count(Scene scene, ShapeKind kind) {
    return count(scene, s -> s.kind() == kind);
  }

  static int count(Scene scene, ShapeColor color) {
    return count(scene, s -> s.color() == color);
  }

  static int count(Scene scene, ShapeColor color, ShapeKind kind) {
    return count(scene, s -> s.color() == color && s.kind() == kind);
  }

  /** The only shape of this kind, if there is exactly one. */
  static Optional<PlacedShape> only(Scene scene, ShapeKind kind) {
    return only(scene, s -> s.kind() == kind);
  }

  /** The only shape of this colour, if there is exactly one. */
  static Optional<PlacedShape> only(Scene scene, ShapeColor color) {
    return only(scene, s -> s.color() == color);
  }

  /** Shapes that no other shape of the scene shares both colour and kind with. */
  static List<PlacedShape> uniquelyNamed(Scene scene) {
    return scene.shapes().stream()
        .filter(s -> count(scene, s.color(), s.kind()) == 1)
        .sorted(LEFT_TO_RIGHT)
        .toList();
  }

  private static int count(Scene scene, Predicate<PlacedShape> test) {
    return (int) scene.shapes().stream().filter(test).count();
  }

  private static Optional<PlacedShape> only(Scene scene, Predicate<PlacedShape> test) {
    List<PlacedShape> matches = scene.shapes().stream().filter(test).toList();
    return matches.size() == 1 ? Optional.of(matches.get(0)) : Optional.empty();
  }
}
