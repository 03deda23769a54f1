package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.training.world.Blobs.Blob;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class InstructionsTest {

  private static final List<String> NUMBERS = List.of("no", "one", "two", "three", "four");
  private static final String[] REGIONS = {
    "at the top left", "at the top", "at the top right",
    "on the left", "in the center", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right"
  };

  private static final Pattern FURTHEST =
      Pattern.compile("Which shape is furthest to the (left|right), and what color is it\\?");
  private static final Pattern MORE = Pattern.compile("Are there more (.+) than (.+)\\?");
  private static final Pattern WHERE = Pattern.compile("Where is the (\\w+) (\\w+)\\?");
  private static final Pattern THERE_IS = Pattern.compile("Is there a (\\w+)\\?");

  private final List<Scene> scenes = RenderedAnswersTest.scenes(120, 31);

  private static PlacedShape shape(ShapeKind kind, ShapeColor color, double x, double y) {
    return new PlacedShape(kind, color, color.baseRgb(), x, y, 60);
  }

  /** A 300 px white scene of these shapes. */
  private static Scene scene(PlacedShape... shapes) {
    return new Scene(300, 300, 0xFFFFFF, List.of(shapes));
  }

  private static String article(PlacedShape s) {
    return (s.color() == ShapeColor.ORANGE ? "an " : "a ")
        + s.color().word()
        + " "
        + s.kind().word();
  }

  /** The region from the thirds of the image, computed here rather than by {@link Region}. */
  private static String region(Scene scene, PlacedShape s) {
    int column = (int) Math.min(2, Math.floor(3 * s.centerX() / scene.width()));
    int row = (int) Math.min(2, Math.floor(3 * s.centerY() / scene.height()));
    return REGIONS[row * 3 + column];
  }

  @Test
  void theDocumentedExamplesReadWordForWord() {
    Scene three =
        scene(
            shape(ShapeKind.STAR, ShapeColor.YELLOW, 250, 250),
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 50),
            shape(ShapeKind.SQUARE, ShapeColor.BLUE, 150, 150));
    assertEquals(
        "There are three shapes on a light background. From left to right: a red circle at the top"
            + " left, a blue square in the center, and a yellow star at the bottom right.",
        Instructions.detail(three, new SplittableRandom(1)).answer());
    assertEquals(
        "three shapes: a red circle, a blue square and a yellow star",
        Instructions.caption(three, new SplittableRandom(1)));
    Scene one = scene(shape(ShapeKind.CIRCLE, ShapeColor.RED, 150, 150));
    assertEquals(
        "There is one shape on a light background: a red circle in the center.",
        Instructions.detail(one, new SplittableRandom(1)).answer());
    assertEquals("a red circle", Instructions.caption(one, new SplittableRandom(1)));
    Scene two =
        scene(
            shape(ShapeKind.SQUARE, ShapeColor.BLUE, 250, 50),
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 250));
    Set<String> captions = new HashSet<>();
    for (long seed = 0; seed < 20; seed++) {
      captions.add(Instructions.caption(two, new SplittableRandom(seed)));
    }
    assertEquals(
        Set.of("a red circle and a blue square", "two shapes: a red circle and a blue square"),
        captions);
  }

  @Test
  void anInventoryFollowsEachKindWordAtOnceWithItsColourLeftToRight() {
    Scene three =
        scene(
            shape(ShapeKind.SQUARE, ShapeColor.BLUE, 250, 50),
            shape(ShapeKind.STAR, ShapeColor.YELLOW, 150, 150),
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 250));
    Set<String> prompts = new HashSet<>();
    for (long seed = 0; seed < 60; seed++) {
      Turn turn = Instructions.inventory(three, new SplittableRandom(seed));
      assertEquals("circle red, star yellow and square blue", turn.answer());
      prompts.add(turn.question());
    }
    assertEquals(Set.copyOf(Instructions.INVENTORY_PROMPTS), prompts);
    Scene one = scene(shape(ShapeKind.TRIANGLE, ShapeColor.GREEN, 150, 150));
    assertEquals("triangle green", Instructions.inventory(one, new SplittableRandom(1)).answer());
  }

  @Test
  void talliesCountEveryKindOrEveryColourInARandomOrder() {
    Scene three =
        scene(
            shape(ShapeKind.SQUARE, ShapeColor.BLUE, 250, 50),
            shape(ShapeKind.STAR, ShapeColor.BLUE, 150, 150),
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 250));
    Map<String, Set<String>> answers = new HashMap<>();
    for (long seed = 0; seed < 300; seed++) {
      Turn turn = Instructions.tally(three, new SplittableRandom(seed));
      answers.computeIfAbsent(turn.question(), q -> new HashSet<>()).add(turn.answer());
    }
    assertEquals(Set.copyOf(Instructions.TALLY_PROMPTS), answers.keySet());
    assertTallies(
        answers.get(Instructions.KIND_TALLY_PROMPT),
        "circles 1, squares 1, triangles 0 and stars 1");
    assertTallies(
        answers.get(Instructions.KIND_TALLY_SINGULAR_PROMPT),
        "circle 1, square 1, triangle 0 and star 1");
    assertTallies(
        answers.get(Instructions.COLOR_TALLY_PROMPT),
        "red 1, green 0, blue 2, yellow 0, purple 0 and orange 0");
  }

  /** Every answer lists the same items, in more than one order. */
  private static void assertTallies(Set<String> answers, String inOrder) {
    Set<String> items = Set.of(inOrder.replace(" and ", ", ").split(", "));
    for (String answer : answers) {
      assertTrue(answer.matches("([a-z]+ [0-4], )*[a-z]+ [0-4] and [a-z]+ [0-4]"), answer);
      assertEquals(items, Set.of(answer.replace(" and ", ", ").split(", ")), answer);
    }
    assertTrue(answers.size() > 1, answers::toString);
  }

  @Test
  void kindFirstNamesPutTheKindBeforeItsColourAtTheGivenShare() {
    Scene two =
        scene(
            shape(ShapeKind.SQUARE, ShapeColor.BLUE, 250, 50),
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 50, 250));
    Set<String> captions = new HashSet<>();
    int kindFirst = 0;
    int names = 0;
    for (long seed = 0; seed < 400; seed++) {
      String caption = Instructions.caption(two, 0.5, new SplittableRandom(seed));
      captions.add(caption.replace("two shapes: ", ""));
      String detail = Instructions.detail(two, 0.5, new SplittableRandom(seed)).answer();
      assertTrue(
          detail.matches(
              "There are two shapes on a light background\\. From left to right: a (red circle|circle"
                  + " in red) at the bottom left and a (blue square|square in blue) at the top"
                  + " right\\."),
          detail);
      kindFirst +=
          (caption.contains("circle in red") ? 1 : 0)
              + (caption.contains("square in blue") ? 1 : 0);
      names += 2;
    }
    assertEquals(
        Set.of(
            "a red circle and a blue square",
            "a circle in red and a blue square",
            "a red circle and a square in blue",
            "a circle in red and a square in blue"),
        captions);
    assertEquals(0.5, (double) kindFirst / names, 0.05);
    for (long seed = 0; seed < 20; seed++) {
      SplittableRandom plain = new SplittableRandom(seed);
      SplittableRandom none = new SplittableRandom(seed);
      assertEquals(Instructions.caption(two, plain), Instructions.caption(two, 0, none));
      assertEquals(plain.nextLong(), none.nextLong(), "a share of 0 draws nothing more");
      assertEquals(
          Instructions.detail(two, plain).answer(), Instructions.detail(two, 0, none).answer());
    }
  }

  @Test
  void detailsAndCaptionsNameEveryShapeWithItsColorLeftToRight() {
    SplittableRandom random = new SplittableRandom(2);
    Set<String> prompts = new HashSet<>();
    for (Scene scene : scenes) {
      List<PlacedShape> ordered =
          scene.shapes().stream().sorted(Comparator.comparingDouble(PlacedShape::centerX)).toList();
      Turn detail = Instructions.detail(scene, random);
      String caption = Instructions.caption(scene, random);
      prompts.add(detail.question());
      int n = ordered.size();
      assertTrue(
          detail.answer().startsWith(n == 1 ? "There is one shape" : "There are " + NUMBERS.get(n)),
          detail.answer());
      int at = 0;
      int inCaption = 0;
      for (PlacedShape s : ordered) {
        String item = article(s) + " " + region(scene, s);
        int found = detail.answer().indexOf(item, at);
        assertTrue(found >= at, () -> item + " missing or out of order in " + detail.answer());
        at = found + item.length();
        int c = caption.indexOf(article(s), inCaption);
        assertTrue(c >= inCaption, () -> article(s) + " missing or out of order in " + caption);
        inCaption = c + article(s).length();
      }
      assertTrue(detail.answer().endsWith("."));
    }
    assertTrue(
        prompts.contains("Describe the image in detail.") && prompts.size() >= 3,
        prompts.toString());
  }

  @Test
  void conversationsAreTwoToFiveDifferentTurnsTrueOfTheRenderedImage() {
    SplittableRandom random = new SplittableRandom(3);
    Set<Integer> lengths = new HashSet<>();
    Set<String> forms = new HashSet<>();
    for (Scene scene : scenes) {
      List<Blob> blobs = Blobs.find(SceneRenderer.render(scene));
      RenderedAnswersTest.assertMatchesScene(scene, blobs);
      PixelOracle oracle = new PixelOracle(blobs, scene.width());
      List<Turn> turns = Instructions.conversation(scene, random);
      lengths.add(turns.size());
      assertEquals(turns.size(), turns.stream().map(Turn::question).distinct().count());
      for (Turn turn : turns) {
        String q = turn.question();
        String expected;
        Matcher m;
        if ((m = THERE_IS.matcher(q)).matches()) {
          forms.add("is there");
          boolean yes = oracle.answer("Is there a " + m.group(1) + " in the image?").equals("yes");
          assertTrue(
              yes
                  ? turn.answer().startsWith("Yes, there ")
                  : turn.answer().equals("No, there is no " + m.group(1) + "."),
              () -> q + " -> " + turn.answer());
          continue;
        }
        if ((m = WHERE.matcher(q)).matches()) {
          forms.add("where");
          String color = m.group(1);
          String kind = m.group(2);
          PlacedShape s =
              scene.shapes().stream()
                  .filter(p -> p.color().word().equals(color) && p.kind().word().equals(kind))
                  .findFirst()
                  .get();
          oracle.only(PixelOracle.named(color, kind), q);
          expected = "The " + color + " " + kind + " is " + region(scene, s) + ".";
        } else {
          String a = oracle.answer(q);
          if (q.equals("How many shapes are there?")) {
            int n = Integer.parseInt(a);
            expected = n == 1 ? "There is one shape." : "There are " + NUMBERS.get(n) + " shapes.";
          } else if ((m = Pattern.compile("How many (\\w+) shapes are there\\?").matcher(q))
              .matches()) {
            int n = Integer.parseInt(a);
            String noun = m.group(1) + (n == 1 ? " shape" : " shapes");
            expected = "There " + (n == 1 ? "is " : "are ") + NUMBERS.get(n) + " " + noun + ".";
          } else if ((m = Pattern.compile("What color is the (\\w+)\\?").matcher(q)).matches()) {
            expected = "The " + m.group(1) + " is " + a + ".";
          } else if ((m = Pattern.compile("What shape is the (\\w+) object\\?").matcher(q))
              .matches()) {
            expected = "The " + m.group(1) + " object is a " + a + ".";
          } else if ((m =
                  Pattern.compile("Is the (.+) to the left or to the right of the (.+)\\?")
                      .matcher(q))
              .matches()) {
            expected = "The " + m.group(1) + " is to the " + a + " of the " + m.group(2) + ".";
          } else {
            throw new AssertionError("unexpected conversation question " + q);
          }
          forms.add(q.replaceAll("the \\w+|\\w+ shapes", "X"));
        }
        assertEquals(expected, turn.answer(), q);
      }
    }
    assertEquals(Set.of(2, 3, 4, 5), lengths);
    assertTrue(forms.size() >= 7, forms.toString());
  }

  @Test
  void reasoningAnswersAreTrueOfTheRenderedImage() {
    SplittableRandom random = new SplittableRandom(4);
    Set<String> forms = new HashSet<>();
    for (Scene scene : scenes) {
      List<Blob> blobs = Blobs.find(SceneRenderer.render(scene));
      PixelOracle oracle = new PixelOracle(blobs, scene.width());
      for (int k = 0; k < 4; k++) {
        Turn turn = Instructions.reasoning(scene, random);
        String q = turn.question();
        String answer = turn.answer();
        Matcher m;
        if ((m = FURTHEST.matcher(q)).matches()) {
          boolean left = m.group(1).equals("left");
          List<Blob> byX =
              blobs.stream().sorted(Comparator.comparingDouble(Blob::centerX)).toList();
          Blob end = left ? byX.get(0) : byX.get(byX.size() - 1);
          Blob next = left ? byX.get(1) : byX.get(byX.size() - 2);
          assertTrue(Math.abs(end.centerX() - next.centerX()) >= 0.1 * scene.width() - 2, q);
          assertEquals(
              "The "
                  + end.kind()
                  + " is furthest to the "
                  + m.group(1)
                  + ", and it is "
                  + end.color()
                  + ".",
              answer);
          forms.add("furthest " + m.group(1));
        } else if ((m = MORE.matcher(q)).matches()) {
          int a = countOf(oracle, m.group(1));
          int b = countOf(oracle, m.group(2));
          assertTrue(a + b > 0, q);
          assertEquals(a > b, answer.startsWith("Yes, "), () -> q + " -> " + answer);
          if (a == b) {
            assertEquals(
                "No, there are as many "
                    + m.group(1)
                    + " as "
                    + m.group(2)
                    + ": "
                    + NUMBERS.get(a)
                    + " each.",
                answer);
          } else {
            assertTrue(
                answer.contains(NUMBERS.get(a) + " ") && answer.contains(NUMBERS.get(b) + " "),
                answer);
          }
          forms.add(a == b ? "more equal" : a > b ? "more yes" : "more no");
        } else if (q.equals("What is the largest shape?")) {
          Blob big = blobs.stream().max(Comparator.comparingDouble(Blob::area)).get();
          blobs.stream()
              .filter(b -> b != big)
              .forEach(b -> assertTrue(big.area() > 1.1 * b.area(), q + blobs));
          assertEquals("The largest shape is the " + big.color() + " " + big.kind() + ".", answer);
          forms.add("largest");
        } else if (q.equals("How many different colors do the shapes have?")) {
          long colors = blobs.stream().map(Blob::color).distinct().count();
          if (blobs.size() == 1) {
            assertEquals(
                "There is only one shape, and it is " + blobs.get(0).color() + ".", answer);
          } else if (colors == 1) {
            assertEquals(
                "One: all "
                    + NUMBERS.get(blobs.size())
                    + " shapes are "
                    + blobs.get(0).color()
                    + ".",
                answer);
          } else {
            assertTrue(
                answer.startsWith(
                    "The shapes have " + NUMBERS.get((int) colors) + " different colors: "),
                answer);
          }
          forms.add("colors");
        } else {
          throw new AssertionError("unexpected reasoning question " + q);
        }
      }
    }
    assertEquals(
        Set.of(
            "furthest left",
            "furthest right",
            "more equal",
            "more yes",
            "more no",
            "largest",
            "colors"),
        forms);
  }

  /** "circles" or "red shapes", counted in the pixels. */
  private static int countOf(PixelOracle oracle, String plural) {
    if (plural.endsWith(" shapes")) {
      return oracle.count(PixelOracle.color(plural.substring(0, plural.length() - 7)));
    }
    return oracle.count(PixelOracle.kind(plural.substring(0, plural.length() - 1)));
  }
}
