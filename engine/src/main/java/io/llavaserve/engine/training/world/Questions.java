package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * Short-answer VQA about a scene, in LLaVA-1.5's format: the question followed by {@link
 * #SHORT_ANSWER_PROMPT}, answered by one lower-case word or a digit.
 *
 * <p>A type is asked only where its answer is unambiguous: the colour of a kind only when exactly
 * one shape has that kind, left or right only between shapes named uniquely by colour and kind
 * whose centres are at least {@link #MIN_POSITION_GAP} of the width apart.
 */
public final class Questions {

  public static final String SHORT_ANSWER_PROMPT =
      "\nAnswer the question using a single word or phrase.";

  /** Centres closer than this fraction of the width are too near to call left or right. */
  public static final double MIN_POSITION_GAP = 0.15;

  /** How often a count-by-attribute question is about an absent attribute, answered "0". */
  static final double ZERO_COUNT_SHARE = 0.25;

  private static final List<ShapeKind> KINDS = List.of(ShapeKind.values());
  private static final List<ShapeColor> COLORS = List.of(ShapeColor.values());

  private Questions() {}

  /**
   * A question of {@code type} about {@code scene} with its answer, or empty when this scene has
   * nothing of that type to ask unambiguously.
   */
  public static Optional<Turn> ask(Scene scene, QuestionType type, SplittableRandom random) {
    return switch (type) {
      case COUNT ->
          Optional.of(turn("How many shapes are there?", Integer.toString(scene.shapes().size())));
      case COLOR -> color(scene, random);
      case SHAPE -> shape(scene, random);
      case POSITION -> position(scene, random);
      case EXISTENCE -> Optional.of(existence(scene, random));
      case ATTRIBUTE_COUNT -> Optional.of(attributeCount(scene, random));
    };
  }

  /** For exact-match scoring: lower case, trimmed, without a trailing period. */
  public static String normalizeAnswer(String answer) {
    String text = answer.trim().toLowerCase(Locale.ROOT);
    while (text.endsWith(".")) {
      text = text.substring(0, text.length() - 1).trim();
    }
    return text;
  }

  private static Turn turn(String question, String answer) {
    return new Turn(question + SHORT_ANSWER_PROMPT, answer);
  }

  private static Optional<Turn> color(Scene scene, SplittableRandom random) {
    List<PlacedShape> candidates =
        KINDS.stream().flatMap(kind -> SceneFacts.only(scene, kind).stream()).toList();
    if (candidates.isEmpty()) {
      return Optional.empty();
    }
    PlacedShape shape = Phrases.pick(candidates, random);
    return Optional.of(
        turn("What color is the " + shape.kind().word() + "?", shape.color().word()));
  }

  private static Optional<Turn> shape(Scene scene, SplittableRandom random) {
    List<PlacedShape> candidates =
        COLORS.stream().flatMap(color -> SceneFacts.only(scene, color).stream()).toList();
    if (candidates.isEmpty()) {
      return Optional.empty();
    }
    PlacedShape shape = Phrases.pick(candidates, random);
    return Optional.of(
        turn("What shape is the " + shape.color().word() + " object?", shape.kind().word()));
  }

  private static Optional<Turn> position(Scene scene, SplittableRandom random) {
    List<PlacedShape[]> pairs = positionPairs(scene);
    if (pairs.isEmpty()) {
      return Optional.empty();
    }
    PlacedShape[] pair = Phrases.pick(pairs, random);
    return Optional.of(position(pair[0], pair[1]));
  }

  /** "Is the red circle to the left or to the right of the blue square?" and which. */
  static Turn position(PlacedShape a, PlacedShape b) {
    String question =
        "Is the " + a.name() + " to the left or to the right of the " + b.name() + "?";
    return turn(question, a.centerX() < b.centerX() ? "left" : "right");
  }

  /** Ordered pairs of uniquely named shapes far enough apart to call left or right. */
  static List<PlacedShape[]> positionPairs(Scene scene) {
    List<PlacedShape> named = SceneFacts.uniquelyNamed(scene);
    List<PlacedShape[]> pairs = new ArrayList<>();
    for (PlacedShape a : named) {
      for (PlacedShape b : named) {
        if (Math.abs(a.centerX() - b.centerX()) >= MIN_POSITION_GAP * scene.width()) {
          pairs.add(new PlacedShape[] {a, b});
        }
      }
    }
    return pairs;
  }

  /**
   * Yes or no with even odds, decided first; then about a colour and kind ("a green star"), or half
   * as often about a kind alone or a colour alone. A kind-only "no" needs an absent kind; with all
   * four present it asks about a colour and kind instead.
   */
  private static Turn existence(Scene scene, SplittableRandom random) {
    boolean yes = random.nextBoolean();
    int form = random.nextInt(4);
    if (form == 1) {
      List<ShapeKind> options =
          KINDS.stream().filter(k -> (SceneFacts.count(scene, k) > 0) == yes).toList();
      if (!options.isEmpty()) {
        return kindExistence(scene, Phrases.pick(options, random));
      }
    } else if (form == 2) {
      List<ShapeColor> options =
          COLORS.stream().filter(c -> (SceneFacts.count(scene, c) > 0) == yes).toList();
      return colorExistence(scene, Phrases.pick(options, random));
    }
    // 24 colour-kind names and at most 4 shapes: both a present and an absent one always exist.
    List<String> options = new ArrayList<>();
    for (ShapeColor color : COLORS) {
      for (ShapeKind kind : KINDS) {
        if ((SceneFacts.count(scene, color, kind) > 0) == yes) {
          options.add(color.article() + " " + color.word() + " " + kind.word());
        }
      }
    }
    return yesNo(Phrases.pick(options, random), yes);
  }

  /** "Is there a circle in the image?" and whether there is. */
  public static Turn kindExistence(Scene scene, ShapeKind kind) {
    return yesNo("a " + kind.word(), SceneFacts.count(scene, kind) > 0);
  }

  /** "How many circles are there?" and how many. */
  public static Turn kindCount(Scene scene, ShapeKind kind) {
    return turn(
        "How many " + kind.plural() + " are there?",
        Integer.toString(SceneFacts.count(scene, kind)));
  }

  /** "Is there a red shape in the image?" and whether there is. */
  public static Turn colorExistence(Scene scene, ShapeColor color) {
    return yesNo(
        color.article() + " " + color.word() + " shape", SceneFacts.count(scene, color) > 0);
  }

  /** "How many red shapes are there?" and how many. */
  public static Turn colorCount(Scene scene, ShapeColor color) {
    return turn(
        "How many " + color.word() + " shapes are there?",
        Integer.toString(SceneFacts.count(scene, color)));
  }

  private static Turn yesNo(String thing, boolean yes) {
    return turn("Is there " + thing + " in the image?", yes ? "yes" : "no");
  }

  /** About a kind or a colour; about an absent one (answer 0) a quarter of the time. */
  private static Turn attributeCount(Scene scene, SplittableRandom random) {
    boolean byKind = random.nextBoolean();
    boolean zero = random.nextDouble() < ZERO_COUNT_SHARE;
    if (byKind) {
      List<ShapeKind> options = filterOrAll(KINDS, k -> (SceneFacts.count(scene, k) == 0) == zero);
      return kindCount(scene, Phrases.pick(options, random));
    }
    List<ShapeColor> options = filterOrAll(COLORS, c -> (SceneFacts.count(scene, c) == 0) == zero);
    return colorCount(scene, Phrases.pick(options, random));
  }

  /**
   * "How many circles are there?" or "How many blue shapes are there?" about a kind or a colour
   * that two or more of the scene's shapes have, at even odds between kinds and colours where both
   * have one; empty when no two shapes share a kind or a colour.
   */
  public static Optional<Turn> repeatedCount(Scene scene, SplittableRandom random) {
    List<ShapeKind> kinds = KINDS.stream().filter(k -> SceneFacts.count(scene, k) >= 2).toList();
    List<ShapeColor> colors = COLORS.stream().filter(c -> SceneFacts.count(scene, c) >= 2).toList();
    if (kinds.isEmpty() && colors.isEmpty()) {
      return Optional.empty();
    }
    boolean byKind = colors.isEmpty() || (!kinds.isEmpty() && random.nextBoolean());
    return Optional.of(
        byKind
            ? kindCount(scene, Phrases.pick(kinds, random))
            : colorCount(scene, Phrases.pick(colors, random)));
  }

  private static <T> List<T> filterOrAll(List<T> all, Predicate<T> test) {
    List<T> kept = all.stream().filter(test).toList();
    return kept.isEmpty() ? all : kept;
  }
}
