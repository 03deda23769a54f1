package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * Questions that take one step of reasoning over the whole scene, answered in a sentence.
 *
 * <p>Each template is asked only when its answer is clear from the picture: "furthest to the left"
 * needs a shape whose centre is at least {@link #CLEAR_GAP} of the width left of every other centre
 * and whose left edge is also leftmost; "largest" needs a shape at least {@link #CLEAR_RATIO} times
 * every other both in box side and in painted area. Comparing the counts of two kinds, or of two
 * colours, and counting the colours are always possible.
 */
final class Reasoning {

  static final double CLEAR_GAP = 0.10;
  static final double CLEAR_RATIO = 1.2;

  private Reasoning() {}

  static Turn reasoning(Scene scene, SplittableRandom random) {
    List<Turn> options = new ArrayList<>();
    furthest(scene, true).ifPresent(options::add);
    furthest(scene, false).ifPresent(options::add);
    largest(scene).ifPresent(options::add);
    options.add(moreKinds(scene, random));
    options.add(moreColors(scene, random));
    options.add(colors(scene));
    return Phrases.pick(options, random);
  }

  /** "Which shape is furthest to the left, and what color is it?" */
  private static Optional<Turn> furthest(Scene scene, boolean left) {
    List<PlacedShape> shapes = SceneFacts.leftToRight(scene);
    if (shapes.size() < 2) {
      return Optional.empty();
    }
    PlacedShape end = left ? shapes.get(0) : shapes.get(shapes.size() - 1);
    double gap = CLEAR_GAP * scene.width();
    for (PlacedShape other : shapes) {
      if (other == end) {
        continue;
      }
      boolean clear =
          left
              ? end.centerX() + gap <= other.centerX() && end.left() < other.left()
              : end.centerX() - gap >= other.centerX() && end.right() > other.right();
      if (!clear) {
        return Optional.empty();
      }
    }
    String side = left ? "left" : "right";
    return Optional.of(
        new Turn(
            "Which shape is furthest to the " + side + ", and what color is it?",
            "The "
                + end.kind().word()
                + " is furthest to the "
                + side
                + ", and it is "
                + end.color().word()
                + "."));
  }

  /** "What is the largest shape?", when one is clearly larger by side and by area. */
  private static Optional<Turn> largest(Scene scene) {
    List<PlacedShape> shapes = scene.shapes();
    if (shapes.size() < 2) {
      return Optional.empty();
    }
    PlacedShape big = shapes.stream().max(Comparator.comparingDouble(PlacedShape::area)).get();
    for (PlacedShape other : shapes) {
      if (other != big
          && (big.size() < CLEAR_RATIO * other.size() || big.area() < CLEAR_RATIO * other.area())) {
        return Optional.empty();
      }
    }
    return Optional.of(
        new Turn("What is the largest shape?", "The largest shape is the " + big.name() + "."));
  }

  /** "Are there more circles than squares?" about two kinds, at least one of them present. */
  private static Turn moreKinds(Scene scene, SplittableRandom random) {
    List<ShapeKind> pair =
        pair(List.of(ShapeKind.values()), k -> SceneFacts.count(scene, k) > 0, random);
    ShapeKind a = pair.get(0);
    ShapeKind b = pair.get(1);
    return compare(
        SceneFacts.count(scene, a),
        a.word(),
        a.plural(),
        SceneFacts.count(scene, b),
        b.word(),
        b.plural());
  }

  /** "Are there more red shapes than blue shapes?" about two colours, one of them present. */
  private static Turn moreColors(Scene scene, SplittableRandom random) {
    List<ShapeColor> pair =
        pair(List.of(ShapeColor.values()), c -> SceneFacts.count(scene, c) > 0, random);
    ShapeColor a = pair.get(0);
    ShapeColor b = pair.get(1);
    return compare(
        SceneFacts.count(scene, a),
        a.word() + " shape",
        a.word() + " shapes",
        SceneFacts.count(scene, b),
        b.word() + " shape",
        b.word() + " shapes");
  }

  /** Two different values in random order, at least one of them {@code present}. */
  private static <T> List<T> pair(List<T> all, Predicate<T> present, SplittableRandom random) {
    T one = Phrases.pick(all.stream().filter(present).toList(), random);
    T other = Phrases.pick(all.stream().filter(t -> t != one).toList(), random);
    return random.nextBoolean() ? List.of(one, other) : List.of(other, one);
  }

  /**
   * "Yes, there are two circles and one square.", "No, there is one circle and two squares.", "No,
   * there are as many circles as squares: one each."
   */
  private static Turn compare(int a, String aOne, String aMany, int b, String bOne, String bMany) {
    String question = "Are there more " + aMany + " than " + bMany + "?";
    if (a == b) {
      return new Turn(
          question,
          "No, there are as many " + aMany + " as " + bMany + ": " + Phrases.number(a) + " each.");
    }
    String counts =
        "there "
            + Phrases.be(a)
            + " "
            + Phrases.count(a, aOne, aMany)
            + " and "
            + Phrases.count(b, bOne, bMany)
            + ".";
    return new Turn(question, (a > b ? "Yes, " : "No, ") + counts);
  }

  /** "How many different colors do the shapes have?" */
  private static Turn colors(Scene scene) {
    List<String> colors =
        SceneFacts.leftToRight(scene).stream().map(s -> s.color().word()).distinct().toList();
    int n = scene.shapes().size();
    String answer;
    if (n == 1) {
      answer = "There is only one shape, and it is " + colors.get(0) + ".";
    } else if (colors.size() == 1) {
      answer = "One: all " + Phrases.number(n) + " shapes are " + colors.get(0) + ".";
    } else {
      answer =
          "The shapes have "
              + Phrases.number(colors.size())
              + " different colors: "
              + Phrases.join(colors, false)
              + ".";
    }
    return new Turn("How many different colors do the shapes have?", answer);
  }
}
