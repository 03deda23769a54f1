package io.llavaserve.engine.training.world;

import io.llavaserve.engine.training.world.Blobs.Blob;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Answers the short-answer questions by parsing their text and looking only at the {@link Blob}s
 * found in the rendered pixels, and fails when a question is not answerable without ambiguity there
 * (two triangles for "the triangle", two shapes too close to call left or right).
 */
final class PixelOracle {

  private static final Pattern COUNT = Pattern.compile("How many shapes are there\\?");
  private static final Pattern COLOR = Pattern.compile("What color is the (\\w+)\\?");
  private static final Pattern SHAPE = Pattern.compile("What shape is the (\\w+) object\\?");
  private static final Pattern POSITION =
      Pattern.compile("Is the (\\w+) (\\w+) to the left or to the right of the (\\w+) (\\w+)\\?");
  private static final Pattern EXISTS_NAMED =
      Pattern.compile("Is there an? (\\w+) (\\w+) in the image\\?");
  private static final Pattern EXISTS_ONE = Pattern.compile("Is there an? (\\w+) in the image\\?");
  private static final Pattern COUNT_COLOR = Pattern.compile("How many (\\w+) shapes are there\\?");
  private static final Pattern COUNT_KIND = Pattern.compile("How many (\\w+)s are there\\?");

  private static final List<String> KINDS = List.of("circle", "square", "triangle", "star");
  private static final List<String> COLORS =
      List.of("red", "green", "blue", "yellow", "purple", "orange");

  private final List<Blob> blobs;
  private final int width;

  PixelOracle(List<Blob> blobs, int width) {
    this.blobs = blobs;
    this.width = width;
  }

  /** The answer to {@code question}, which must not carry the short-answer prompt. */
  String answer(String question) {
    Matcher m;
    if (COUNT.matcher(question).matches()) {
      return Integer.toString(blobs.size());
    }
    if ((m = COLOR.matcher(question)).matches()) {
      return only(kind(m.group(1)), question).color();
    }
    if ((m = SHAPE.matcher(question)).matches()) {
      return only(color(m.group(1)), question).kind();
    }
    if ((m = POSITION.matcher(question)).matches()) {
      Blob a = only(named(m.group(1), m.group(2)), question);
      Blob b = only(named(m.group(3), m.group(4)), question);
      // The generator promises 15% of the width; a pixel box centre may be a pixel off.
      if (Math.abs(a.centerX() - b.centerX()) < 0.15 * width - 2) {
        throw new AssertionError("too close to call left or right: " + question);
      }
      return a.centerX() < b.centerX() ? "left" : "right";
    }
    if ((m = EXISTS_NAMED.matcher(question)).matches()) {
      Predicate<Blob> test =
          m.group(2).equals("shape") ? color(m.group(1)) : named(m.group(1), m.group(2));
      return count(test) > 0 ? "yes" : "no";
    }
    if ((m = EXISTS_ONE.matcher(question)).matches()) {
      return count(kind(m.group(1))) > 0 ? "yes" : "no";
    }
    if ((m = COUNT_COLOR.matcher(question)).matches()) {
      return Integer.toString(count(color(m.group(1))));
    }
    if ((m = COUNT_KIND.matcher(question)).matches()) {
      return Integer.toString(count(kind(m.group(1))));
    }
    throw new AssertionError("unknown question: " + question);
  }

  int count(Predicate<Blob> test) {
    return (int) blobs.stream().filter(test).count();
  }

  Blob only(Predicate<Blob> test, String question) {
    List<Blob> matches = blobs.stream().filter(test).toList();
    if (matches.size() != 1) {
      throw new AssertionError(matches.size() + " shapes match in " + question + ": " + blobs);
    }
    return matches.get(0);
  }

  static Predicate<Blob> kind(String word) {
    if (!KINDS.contains(word)) {
      throw new AssertionError("not a kind: " + word);
    }
    return b -> b.kind().equals(word);
  }

  static Predicate<Blob> color(String word) {
    if (!COLORS.contains(word)) {
      throw new AssertionError("not a color: " + word);
    }
    return b -> b.color().equals(word);
  }

  static Predicate<Blob> named(String color, String kind) {
    return color(color).and(kind(kind));
  }
}
