package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The longer texts about a scene, after LLaVA's data: brief captions (stage-1 alignment and
 * contrastive training), detailed descriptions, multi-turn conversations and reasoning questions.
 *
 * <p>Every answer is a template filled from the scene, so it is always true of the image; the
 * random source only chooses among phrasings and among the questions a scene supports. Shapes are
 * always listed left to right, by the centre of their boxes.
 */
public final class Instructions {

  /** Stage-1 instructions asking for a brief description, after LLaVA's brief-caption list. */
  static final List<String> BRIEF_PROMPTS =
      List.of(
          "Give a short caption of the image.",
          "Describe the image briefly.",
          "Write a brief caption for this picture.",
          "Summarize the image in a few words.",
          "Provide a short description of the image.",
          "What is in this image? Answer briefly.");

  /** Instructions asking for the inventory of {@link #inventory}. */
  static final List<String> INVENTORY_PROMPTS =
      List.of(
          "List each shape's kind and color.",
          "Name every shape, kind first, then its color.",
          "Which shapes are there, and what color is each?");

  /** Asks for {@link #tally} by kind, each kind's plural noun followed by its count. */
  static final String KIND_TALLY_PROMPT = "How many shapes of each kind are there?";

  /** Asks for {@link #tally} by kind, each kind's singular noun followed by its count. */
  static final String KIND_TALLY_SINGULAR_PROMPT = "How many of each kind of shape are there?";

  /** Asks for {@link #tally} by colour. */
  static final String COLOR_TALLY_PROMPT = "How many shapes of each color are there?";

  static final List<String> TALLY_PROMPTS =
      List.of(KIND_TALLY_PROMPT, KIND_TALLY_SINGULAR_PROMPT, COLOR_TALLY_PROMPT);

  static final List<String> DETAIL_PROMPTS =
      List.of(
          "Describe the image in detail.",
          "Describe this image.",
          "Give a detailed description of the image.",
          "What do you see in this image? Describe it in detail.");

  private Instructions() {}

  /**
   * The shapes left to right: "a red circle", "a red circle and a blue square", "three shapes: a
   * red circle, a blue square and a yellow star". Two shapes are counted first half of the time.
   */
  public static String caption(Scene scene, SplittableRandom random) {
    return caption(SceneFacts.leftToRight(scene), random);
  }

  /**
   * {@link #caption(Scene, SplittableRandom)}, each shape named kind first ("a circle in red") with
   * probability {@code kindFirstShare}.
   */
  public static String caption(Scene scene, double kindFirstShare, SplittableRandom random) {
    return caption(SceneFacts.leftToRight(scene), kindFirstShare, random);
  }

  /** {@link #caption(Scene, SplittableRandom)} of shapes already in left-to-right order. */
  static String caption(List<PlacedShape> shapes, SplittableRandom random) {
    return caption(shapes, 0, random);
  }

  private static String caption(
      List<PlacedShape> shapes, double kindFirstShare, SplittableRandom random) {
    String list =
        Phrases.join(
            shapes.stream().map(s -> Phrases.withArticle(s, kindFirstShare, random)).toList(),
            false);
    int n = shapes.size();
    if (n >= 3 || (n == 2 && random.nextBoolean())) {
      return Phrases.number(n) + " shapes: " + list;
    }
    return list;
  }

  /**
   * The shapes left to right as kind and colour words, each kind followed at once by its colour:
   * "circle red", "circle red, square blue and star yellow". Terse on purpose: the colour is the
   * very next token after the kind word, so predicting it trains a lookup from a kind word to its
   * shape's colour at the kind word's own position, as captions ("a red circle") train one from a
   * colour word to its shape's kind.
   */
  public static Turn inventory(Scene scene, SplittableRandom random) {
    List<String> items =
        SceneFacts.leftToRight(scene).stream()
            .map(s -> s.kind().word() + " " + s.color().word())
            .toList();
    return new Turn(Phrases.pick(INVENTORY_PROMPTS, random), Phrases.join(items, false));
  }

  /**
   * How many shapes there are of every kind, or of every colour, absent ones included, in a random
   * order: "circles 2, stars 0, squares 1 and triangles 1", "star 0, circle 2, ...", or "blue 1,
   * red 0, ... and orange 2". Each word is followed at once by its count, so predicting the count
   * trains a lookup from a kind word (singular or plural) or a colour word to how many shapes have
   * it, at that word's own position: what "How many circles are there?" and "Is there a star in the
   * image?" need of their kind word.
   */
  public static Turn tally(Scene scene, SplittableRandom random) {
    String prompt = Phrases.pick(TALLY_PROMPTS, random);
    List<String> items = new ArrayList<>();
    if (prompt.equals(COLOR_TALLY_PROMPT)) {
      for (ShapeColor color : ShapeColor.values()) {
        items.add(color.word() + " " + SceneFacts.count(scene, color));
      }
    } else {
      boolean plural = prompt.equals(KIND_TALLY_PROMPT);
      for (ShapeKind kind : ShapeKind.values()) {
        items.add((plural ? kind.plural() : kind.word()) + " " + SceneFacts.count(scene, kind));
      }
    }
    Phrases.shuffle(items, random);
    return new Turn(prompt, Phrases.join(items, false));
  }

  /** A detailed description naming every shape, its colour and its {@link Region}. */
  public static Turn detail(Scene scene, SplittableRandom random) {
    return detail(scene, 0, random);
  }

  /**
   * {@link #detail(Scene, SplittableRandom)}, each shape named kind first ("a circle in red at the
   * top left") with probability {@code kindFirstShare}.
   */
  public static Turn detail(Scene scene, double kindFirstShare, SplittableRandom random) {
    String prompt = Phrases.pick(DETAIL_PROMPTS, random);
    return new Turn(prompt, description(scene, kindFirstShare, random));
  }

  /** Two to five turns of natural questions and one-sentence answers about the scene. */
  public static List<Turn> conversation(Scene scene, SplittableRandom random) {
    return Conversations.conversation(scene, random);
  }

  /**
   * A question that takes a step of reasoning (furthest left or right, more of one thing than
   * another, largest, how many colours) and its answer in a sentence. Comparing two kinds is
   * possible in every scene, so there is always a question to ask.
   */
  public static Turn reasoning(Scene scene, SplittableRandom random) {
    return Reasoning.reasoning(scene, random);
  }

  /**
   * "There is one shape on a light background: a red circle in the center." or "There are three
   * shapes on a light background. From left to right: a red circle at the top left, a blue square
   * in the center, and a yellow star at the bottom right."
   */
  static String description(Scene scene) {
    return description(scene, 0, null);
  }

  private static String description(Scene scene, double kindFirstShare, SplittableRandom random) {
    List<PlacedShape> shapes = SceneFacts.leftToRight(scene);
    List<String> items =
        shapes.stream()
            .map(
                s ->
                    Phrases.withArticle(s, kindFirstShare, random)
                        + " "
                        + Region.of(scene, s).phrase())
            .toList();
    if (items.size() == 1) {
      return "There is one shape on a light background: " + items.get(0) + ".";
    }
    return "There are "
        + Phrases.number(items.size())
        + " shapes on a light background. From left to right: "
        + Phrases.join(items, true)
        + ".";
  }
}
