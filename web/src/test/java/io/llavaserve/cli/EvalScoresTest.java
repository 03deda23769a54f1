package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.training.world.QuestionType;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SampleKind;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.Turn;
import io.llavaserve.engine.training.world.WorldDatasets;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvalScoresTest {

  @Test
  void caseSpaceAndATrailingPeriodDoNotCountAgainstAnAnswer() {
    assertTrue(EvalScores.matches("red", " Red. "));
    assertTrue(EvalScores.matches("3", "3."));
    assertTrue(EvalScores.matches("yes", "YES"));
    assertFalse(EvalScores.matches("red", "red circle"));
    assertFalse(EvalScores.matches("3", "three"));
    assertFalse(EvalScores.matches("left", ""));
  }

  @Test
  void exactMatchIsTalliedPerTypeAndOverallAndMissesAreKept() {
    EvalScores s = new EvalScores();
    s.vqa(QuestionType.COUNT, "How many shapes are there?", "3", "3");
    s.vqa(QuestionType.COUNT, "How many shapes are there?", "2", "4");
    s.vqa(QuestionType.COLOR, "What color is the star?", "blue", "Blue.");
    s.vqa(QuestionType.POSITION, "Is the red star left?", "left", "right");

    assertEquals(2, s.questions(QuestionType.COUNT));
    assertEquals(50.0, s.exactMatch(QuestionType.COUNT), 1e-9);
    assertEquals(100.0, s.exactMatch(QuestionType.COLOR), 1e-9);
    assertEquals(0.0, s.exactMatch(QuestionType.POSITION), 1e-9);
    assertEquals(0, s.questions(QuestionType.SHAPE));
    assertEquals(0.0, s.exactMatch(QuestionType.SHAPE), 1e-9);
    assertEquals(4, s.questions());
    assertEquals(50.0, s.exactMatch(), 1e-9);
    assertEquals(
        List.of(
            new EvalScores.Wrong(QuestionType.COUNT, "How many shapes are there?", "2", "4"),
            new EvalScores.Wrong(QuestionType.POSITION, "Is the red star left?", "left", "right")),
        s.wrong());
  }

  @Test
  void answersAreAlsoTalliedByTheNumberOfShapesInTheImage() {
    EvalScores s = new EvalScores();
    s.vqa(QuestionType.COLOR, 1, "What color is the star?", "blue", "blue");
    s.vqa(QuestionType.COLOR, 3, "What color is the star?", "blue", "red");
    s.vqa(QuestionType.COLOR, 3, "What color is the circle?", "red", "red");
    s.vqa(QuestionType.COUNT, 2, "How many shapes are there?", "2", "2");

    assertEquals(4, s.questions());
    assertEquals(75.0, s.exactMatch(), 1e-9);
    String table = s.byShapesTable();
    assertTrue(table.contains("100.0 (1)"), table);
    assertTrue(table.contains("50.0 (2)"), table);
    String color = table.lines().filter(l -> l.startsWith("color")).findFirst().orElseThrow();
    assertTrue(
        color.matches("color +\\| +100\\.0 \\(1\\) \\| +- \\| +50\\.0 \\(2\\) \\| +-"), color);
    assertThrows(IllegalArgumentException.class, () -> s.vqa(QuestionType.COUNT, 5, "q", "a", "a"));
  }

  @Test
  void answersAreAlsoTalliedByWhatTheQuestionFindsShapesBy() {
    assertEquals(EvalScores.Lookup.KIND, EvalScores.Lookup.of("What color is the triangle?"));
    assertEquals(EvalScores.Lookup.KIND, EvalScores.Lookup.of("How many stars are there?"));
    assertEquals(EvalScores.Lookup.COLOR, EvalScores.Lookup.of("What shape is the red object?"));
    assertEquals(EvalScores.Lookup.COLOR, EvalScores.Lookup.of("Is there a green shape?"));
    assertEquals(
        EvalScores.Lookup.BOTH, EvalScores.Lookup.of("Is there a purple square in the image?"));
    assertEquals(EvalScores.Lookup.NONE, EvalScores.Lookup.of("How many shapes are there?"));

    EvalScores s = new EvalScores();
    s.vqa(QuestionType.EXISTENCE, 2, "Is there a star in the image?", "yes", "no");
    s.vqa(QuestionType.EXISTENCE, 2, "Is there a red shape in the image?", "yes", "yes");
    s.vqa(QuestionType.EXISTENCE, 3, "Is there a red star in the image?", "no", "no");
    String existence =
        s.byLookupTable().lines().filter(l -> l.startsWith("existence")).findFirst().orElseThrow();
    assertTrue(
        existence.matches(
            "existence +\\| +0\\.0 \\(1\\) \\| +100\\.0 \\(1\\) \\| +100\\.0 \\(1\\) \\| +-"),
        existence);
  }

  @Test
  void answersAreAlsoTalliedByTheImagesProportionsAndByTheCountExpected() {
    assertEquals(EvalScores.Proportion.VERY_TALL, EvalScores.Proportion.of(100, 301));
    assertEquals(EvalScores.Proportion.TALL, EvalScores.Proportion.of(199, 300));
    assertEquals(EvalScores.Proportion.SQUARE, EvalScores.Proportion.of(256, 256));
    assertEquals(EvalScores.Proportion.WIDE, EvalScores.Proportion.of(150, 100));
    assertEquals(EvalScores.Proportion.VERY_WIDE, EvalScores.Proportion.of(1024, 64));

    EvalScores s = new EvalScores();
    int wideCounts = 0;
    int twos = 0;
    for (Sample sample : WorldDatasets.evaluationSet(4242, 40, new SizeRange(64, 1024))) {
      if (sample.kind() == SampleKind.DETAIL) {
        continue;
      }
      Turn t = sample.turns().get(0);
      Scene scene = sample.scene();
      boolean wide = (double) scene.width() / scene.height() >= 3;
      // Right everywhere but on very wide images, and wrong about every count of two.
      boolean right = !wide && !t.answer().equals("2");
      s.vqa(sample.type(), scene, t.question(), t.answer(), right ? t.answer() : "none");
      wideCounts += wide && sample.type() == QuestionType.COUNT ? 1 : 0;
      twos += t.answer().equals("2") && sample.type() == QuestionType.ATTRIBUTE_COUNT ? 1 : 0;
    }
    assertEquals(240, s.questions());
    String count =
        s.byProportionTable().lines().filter(l -> l.startsWith("count")).findFirst().orElseThrow();
    assertTrue(
        wideCounts > 0 && count.split("\\|")[5].strip().equals("0.0 (" + wideCounts + ")"), count);
    String byCount = s.byCountTable();
    assertTrue(byCount.lines().findFirst().orElseThrow().endsWith("answer 4"), byCount);
    assertTrue(byCount.lines().noneMatch(l -> l.startsWith("color")), byCount);
    String attribute =
        byCount.lines().filter(l -> l.startsWith("attribute_count")).findFirst().orElseThrow();
    assertTrue(
        twos > 0 && attribute.split("\\|")[3].strip().equals("0.0 (" + twos + ")"), attribute);
  }

  @Test
  void attributeCountsAreAlsoTalliedApartByWhetherTheyCountAKindOrAColour() {
    EvalScores s = new EvalScores();
    int[][] asked = new int[2][Scene.MAX_SHAPES + 1]; // by kind, by colour; per expected count
    for (Sample sample : WorldDatasets.evaluationSet(4242, 60, new SizeRange(64, 1024))) {
      if (sample.type() != QuestionType.ATTRIBUTE_COUNT) {
        continue;
      }
      Turn t = sample.turns().get(0);
      boolean byColour = EvalScores.Lookup.of(t.question()) == EvalScores.Lookup.COLOR;
      // Counts of a kind right, counts of a colour wrong.
      s.vqa(
          sample.type(), sample.scene(), t.question(), t.answer(), byColour ? "none" : t.answer());
      asked[byColour ? 1 : 0][Integer.parseInt(t.answer())]++;
    }
    List<String> lines = s.byCountTable().lines().toList();
    String kind =
        lines.stream()
            .filter(l -> l.startsWith("attribute_count by kind"))
            .findFirst()
            .orElseThrow();
    String colour =
        lines.stream()
            .filter(l -> l.startsWith("attribute_count by colour"))
            .findFirst()
            .orElseThrow();
    assertTrue(asked[0][1] > 0 && asked[1][1] > 0, "both kinds of count asked");
    for (int n = 0; n <= Scene.MAX_SHAPES; n++) {
      String k = kind.split("\\|")[n + 1].strip();
      String c = colour.split("\\|")[n + 1].strip();
      assertEquals(asked[0][n] == 0 ? "-" : "100.0 (" + asked[0][n] + ")", k, kind);
      assertEquals(asked[1][n] == 0 ? "-" : "0.0 (" + asked[1][n] + ")", c, colour);
    }
  }

  @Test
  void aDescriptionScoresTheShareOfShapesItNamesAndStaysOutOfExactMatch() {
    EvalScores s = new EvalScores();
    s.vqa(QuestionType.EXISTENCE, "Is there a star?", "yes", "yes");
    s.detail(List.of("red circle", "blue square"), "There is a Red Circle and a green square.");
    s.detail(List.of("yellow star", "purple triangle"), "A yellow star, a purple triangle.");
    s.detail(List.of("green star", "blue circle"), "A star in green and a circle in red.");

    assertEquals(new EvalScores.Detail(3, 6, 4), s.detail());
    assertEquals(400.0 / 6, s.detail().percent(), 1e-9);
    assertEquals(100.0, s.exactMatch(), 1e-9);
    assertEquals(1, s.questions());
  }

  @Test
  void theEvaluationSetsDescriptionsAreScoredAgainstTheirOwnScenes() {
    List<Sample> set = WorldDatasets.evaluationSet(777, 3, new SizeRange(64, 256));
    EvalScores s = new EvalScores();
    int shapes = 0;
    for (Sample sample : set) {
      if (sample.kind() == SampleKind.DETAIL) {
        List<String> phrases = EvalScores.shapePhrases(sample.scene());
        shapes += phrases.size();
        // The reference description names every shape, so it scores full marks.
        s.detail(phrases, sample.turns().get(0).answer());
      }
    }

    assertEquals(3, s.detail().samples());
    assertEquals(shapes, s.detail().shapes());
    assertEquals(100.0, s.detail().percent(), 1e-9);
  }

  @Test
  void theTableHasARowPerTypeOverallAndDetailAndAColumnPerCheckpoint() {
    EvalScores fin = new EvalScores();
    EvalScores align = new EvalScores();
    for (QuestionType t : QuestionType.values()) {
      fin.vqa(t, "q", "a", "a");
      align.vqa(t, "q", "a", t == QuestionType.COUNT ? "a" : "b");
    }
    fin.detail(List.of("red circle"), "a red circle");
    align.detail(List.of("red circle"), "a shape");

    List<String> lines =
        EvalScores.table(List.of("final", "align"), List.of(fin, align)).lines().toList();

    assertEquals(2 + QuestionType.values().length + 2, lines.size(), String.join("\n", lines));
    assertEquals(
        List.of("type", "n", "final exact match %", "align exact match %"), cells(lines.get(0)));
    assertEquals(List.of("count", "1", "100.0", "100.0"), cells(lines.get(2)));
    assertEquals(List.of("color", "1", "100.0", "0.0"), cells(lines.get(3)));
    assertEquals(List.of("attribute_count", "1", "100.0", "0.0"), cells(lines.get(7)));
    assertEquals(List.of("overall", "6", "100.0", "16.7"), cells(lines.get(8)));
    assertEquals(List.of("detail (shapes named %)", "1", "100.0", "0.0"), cells(lines.get(9)));
    // Columns line up: every row is as wide as the header.
    lines.forEach(l -> assertEquals(lines.get(0).length(), l.length(), l));
  }

  @Test
  void oneCheckpointGetsAPlainExactMatchColumnAndNoDetailRowWithoutDescriptions() {
    EvalScores s = new EvalScores();
    s.vqa(QuestionType.SHAPE, "q", "star", "star");

    String table = EvalScores.table(List.of("final"), List.of(s));

    assertEquals(List.of("type", "n", "exact match %"), cells(table.lines().findFirst().get()));
    assertFalse(table.contains("detail"), table);
    assertTrue(table.contains("shape"), table);
  }

  private static List<String> cells(String line) {
    return List.of(line.split("\\|")).stream().map(String::strip).toList();
  }
}
