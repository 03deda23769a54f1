package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QuestionsTest {

  private static PlacedShape shape(ShapeKind kind, ShapeColor color, double x, double y) {
    return new PlacedShape(kind, color, color.baseRgb(), x, y, 20);
  }

  private static Scene scene(PlacedShape... shapes) {
    return new Scene(100, 100, 0xFFFFFF, List.of(shapes));
  }

  @Test
  void existenceIsAnsweredYesAboutHalfTheTime() {
    SplittableRandom random = new SplittableRandom(1);
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 256));
    int yes = 0;
    int n = 4000;
    for (int i = 0; i < n; i++) {
      String answer =
          Questions.ask(generator.next(random), QuestionType.EXISTENCE, random).get().answer();
      assertTrue(answer.equals("yes") || answer.equals("no"));
      yes += answer.equals("yes") ? 1 : 0;
    }
    assertEquals(0.5, (double) yes / n, 0.03);
  }

  @Test
  void attributeCountsIncludeZerosButMostlyCountWhatIsThere() {
    SplittableRandom random = new SplittableRandom(2);
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 256));
    int zero = 0;
    int byColor = 0;
    int n = 4000;
    for (int i = 0; i < n; i++) {
      Turn turn = Questions.ask(generator.next(random), QuestionType.ATTRIBUTE_COUNT, random).get();
      assertTrue(turn.answer().matches("[0-4]"), turn.answer());
      zero += turn.answer().equals("0") ? 1 : 0;
      byColor += turn.question().contains(" shapes are there?") ? 1 : 0;
    }
    assertEquals(0.25, (double) zero / n, 0.05);
    assertEquals(0.5, (double) byColor / n, 0.05);
  }

  @Test
  void aQuestionIsAskedOnlyWhenItsAnswerIsUnambiguous() {
    SplittableRandom random = new SplittableRandom(3);
    Scene twoRedTriangles =
        scene(
            shape(ShapeKind.TRIANGLE, ShapeColor.RED, 20, 20),
            shape(ShapeKind.TRIANGLE, ShapeColor.RED, 75, 75));
    for (QuestionType type :
        List.of(QuestionType.COLOR, QuestionType.SHAPE, QuestionType.POSITION)) {
      assertFalse(Questions.ask(twoRedTriangles, type, random).isPresent(), type.name());
    }
    assertEquals("2", Questions.ask(twoRedTriangles, QuestionType.COUNT, random).get().answer());

    Scene close =
        scene(
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 40, 20),
            shape(ShapeKind.STAR, ShapeColor.BLUE, 54, 75));
    Scene apart =
        scene(
            shape(ShapeKind.CIRCLE, ShapeColor.RED, 40, 20),
            shape(ShapeKind.STAR, ShapeColor.BLUE, 56, 75));
    assertFalse(Questions.ask(close, QuestionType.POSITION, random).isPresent());
    Turn turn = Questions.ask(apart, QuestionType.POSITION, random).get();
    String expected =
        turn.question()
                .startsWith("Is the red circle to the left or to the right of the blue star?")
            ? "left"
            : "right";
    assertEquals(expected, turn.answer());
  }

  @Test
  void everyQuestionEndsWithTheShortAnswerPromptAndIsAnsweredInOneLowerCaseWord() {
    SplittableRandom random = new SplittableRandom(4);
    SceneGenerator generator = new SceneGenerator(new SizeRange(64, 1024));
    for (int i = 0; i < 500; i++) {
      Scene scene = generator.next(random);
      for (QuestionType type : QuestionType.values()) {
        Optional<Turn> turn = Questions.ask(scene, type, random);
        if (turn.isPresent()) {
          String q = turn.get().question();
          assertTrue(q.endsWith("?\nAnswer the question using a single word or phrase."), q);
          assertTrue(q.chars().allMatch(c -> c < 128), q);
          assertFalse(q.contains("colour"), q);
          assertTrue(turn.get().answer().matches("[a-z]+|[0-4]"), turn.get().answer());
        }
      }
    }
  }

  @Test
  void orangeTakesAnAn() {
    Scene scene = scene(shape(ShapeKind.STAR, ShapeColor.ORANGE, 50, 50));
    SplittableRandom random = new SplittableRandom(5);
    boolean seen = false;
    for (int i = 0; i < 200; i++) {
      String q = Questions.ask(scene, QuestionType.EXISTENCE, random).get().question();
      assertFalse(q.contains(" a orange"), q);
      seen |= q.startsWith("Is there an orange star in the image?");
    }
    assertTrue(seen);
  }

  @Test
  void normalizedAnswersCompareExactly() {
    assertEquals("yes", Questions.normalizeAnswer(" Yes. "));
    assertEquals("left", Questions.normalizeAnswer("Left"));
    assertEquals("3", Questions.normalizeAnswer("3.\n"));
    assertEquals("red", Questions.normalizeAnswer("red"));
  }
}
