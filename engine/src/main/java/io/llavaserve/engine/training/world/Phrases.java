package io.llavaserve.engine.training.world;

import java.util.List;
import java.util.SplittableRandom;

/** Small English helpers shared by the templates: number words, articles, lists. */
final class Phrases {

  private static final String[] NUMBERS = {"no", "one", "two", "three", "four"};

  private Phrases() {}

  /** "no", "one" .. "four": counts in a scene never exceed {@link Scene#MAX_SHAPES}. */
  static String number(int n) {
    if (n < 0 || n >= NUMBERS.length) {
      throw new IllegalArgumentException("count must be 0 to 4, got " + n);
    }
    return NUMBERS[n];
  }

  /** "no circles", "one circle", "two circles". */
  static String count(int n, String singular, String plural) {
    return number(n) + " " + (n == 1 ? singular : plural);
  }

  /** "is" for one, "are" otherwise, to agree with {@link #count}. */
  static String be(int n) {
    return n == 1 ? "is" : "are";
  }

  /** "a red circle", "an orange star". */
  static String withArticle(PlacedShape shape) {
    return shape.color().article() + " " + shape.name();
  }

  /**
   * {@link #withArticle} colour first, or, with probability {@code kindFirstShare}, kind first: "a
   * circle in red". Draws from {@code random} only when the share is above 0, so a stream without
   * kind-first names is the same with or without this choice. Every kind's word starts with a
   * consonant, so its article is "a".
   */
  static String withArticle(PlacedShape shape, double kindFirstShare, SplittableRandom random) {
    if (kindFirstShare > 0 && random.nextDouble() < kindFirstShare) {
      return "a " + shape.kind().word() + " in " + shape.color().word();
    }
    return withArticle(shape);
  }

  /** "a", "a and b", "a, b, and c" (with the serial comma when {@code serialComma}). */
  static String join(List<String> items, boolean serialComma) {
    int n = items.size();
    if (n == 0) {
      throw new IllegalArgumentException("nothing to join");
    }
    if (n == 1) {
      return items.get(0);
    }
    if (n == 2) {
      return items.get(0) + " and " + items.get(1);
    }
    String head = String.join(", ", items.subList(0, n - 1));
    return head + (serialComma ? ", and " : " and ") + items.get(n - 1);
  }

  static <T> T pick(List<T> options, SplittableRandom random) {
    return options.get(random.nextInt(options.size()));
  }

  /** Shuffles {@code items} in place (Fisher-Yates, from the last item down). */
  static <T> void shuffle(List<T> items, SplittableRandom random) {
    for (int i = items.size() - 1; i > 0; i--) {
      java.util.Collections.swap(items, i, random.nextInt(i + 1));
    }
  }
}
