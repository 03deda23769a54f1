package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class WorldDatasetsTest {

  private static final SizeRange SIZES = new SizeRange(64, 1024);

  /** What the first question of a VQA sample of each type looks like. */
  private static final Map<QuestionType, String> PATTERNS =
      Map.of(
          QuestionType.COUNT, "How many shapes are there\\?",
          QuestionType.COLOR, "What color is the \\w+\\?",
          QuestionType.SHAPE, "What shape is the \\w+ object\\?",
          QuestionType.POSITION, "Is the \\w+ \\w+ to the left or to the right of the \\w+ \\w+\\?",
          QuestionType.EXISTENCE, "Is there an? \\w+( \\w+)? in the image\\?",
          QuestionType.ATTRIBUTE_COUNT, "How many (\\w+s|\\w+ shapes) are there\\?");

  private static void assertVqaTurnOfType(QuestionType type, Turn turn) {
    String q = turn.question();
    assertTrue(q.endsWith(Questions.SHORT_ANSWER_PROMPT), q);
    String bare = q.substring(0, q.length() - Questions.SHORT_ANSWER_PROMPT.length());
    assertTrue(
        bare.matches(PATTERNS.get(type))
            && !(type == QuestionType.ATTRIBUTE_COUNT && bare.startsWith("How many shapes")),
        () -> type + ": " + bare);
  }

  @Test
  void inventoriesTakeTheirShareOfTheInstructionStreamAndTrueOfTheirScene() {
    WorldDatasets data =
        new WorldDatasets(
            6, SIZES, new WorldMix(0, 0, 0.2, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM));
    int n = 3000;
    int inventories = 0;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      if (sample.kind() == SampleKind.INVENTORY) {
        inventories++;
        String expected =
            String.join(
                " ",
                SceneFacts.leftToRight(sample.scene()).stream()
                    .map(s -> s.kind().word() + " " + s.color().word())
                    .toList());
        String answer = sample.turns().get(0).answer().replace(",", "").replace(" and ", " ");
        assertEquals(expected, answer);
      }
    }
    assertEquals(0.2, share(inventories, n), 0.025);
    List<Sample> plain = mixed(new WorldDatasets(42, SIZES));
    List<Sample> none = mixed(new WorldDatasets(42, SIZES, WorldMix.PLAIN));
    assertEquals(plain, none);
  }

  @Test
  void talliesTakeTheirShareBesideInventoriesAndCountTheirScene() {
    WorldDatasets data =
        new WorldDatasets(
            8, SIZES, new WorldMix(0, 0, 0.2, 0.15, 0, 0, 0, 0, QuestionWeights.UNIFORM));
    int n = 3000;
    int inventories = 0;
    int tallies = 0;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      if (sample.kind() == SampleKind.INVENTORY) {
        inventories++;
      } else if (sample.kind() == SampleKind.TALLY) {
        tallies++;
        Scene scene = sample.scene();
        String answer = sample.turns().get(0).answer();
        int total = 0;
        for (String item : answer.replace(" and ", ", ").split(", ")) {
          String[] parts = item.split(" ");
          int count = Integer.parseInt(parts[1]);
          total += count;
          assertEquals(expectedCount(scene, parts[0]), count, answer);
        }
        assertEquals(scene.shapes().size(), total, answer);
      }
    }
    assertEquals(0.2, share(inventories, n), 0.025);
    assertEquals(0.15, share(tallies, n), 0.025);
  }

  @Test
  void kindSweepsAskEveryKindOfOneImageAndAnswerTrue() {
    WorldDatasets data =
        new WorldDatasets(
            9, SIZES, new WorldMix(0, 0, 0.2, 0.1, 0.2, 0, 0, 0, QuestionWeights.UNIFORM));
    int n = 3000;
    int sweeps = 0;
    int existence = 0;
    int yes = 0;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      if (sample.kind() != SampleKind.VQA || !isSweep(sample)) {
        continue;
      }
      sweeps++;
      int[] asked = checkSweep(sample, new HashSet<>());
      existence += asked[0];
      yes += asked[1];
    }
    // An ordinary VQA sample matches a sweep's form only rarely.
    assertEquals(0.2, share(sweeps, n), 0.03);
    assertEquals(0.5, share(existence, 4 * sweeps), 0.05);
    assertTrue(yes > 0 && yes < existence, yes + " of " + existence);
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0.5, 0.3, 0.3, 0, 0, 0, QuestionWeights.UNIFORM));
  }

  @Test
  void colorSweepsAskEveryColourShownPlusAbsentOnesAndAnswerTrue() {
    WorldMix mix = new WorldMix(0, 0, 0.2, 0, 0.2, 0.25, 0, 0, QuestionWeights.UNIFORM);
    WorldDatasets data = new WorldDatasets(10, SIZES, mix);
    int n = 3000;
    int sweeps = 0;
    int existence = 0;
    int yes = 0;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      if (sample.kind() != SampleKind.VQA || !isColorSweep(sample)) {
        continue;
      }
      sweeps++;
      Set<String> asked = new HashSet<>();
      int[] found = checkSweep(sample, asked);
      existence += found[0];
      yes += found[1];
      // Every colour the image shows is asked about.
      for (PlacedShape shape : sample.scene().shapes()) {
        assertTrue(asked.contains(shape.color().word()), asked + " misses " + shape.color());
      }
    }
    assertEquals(0.25, share(sweeps, n), 0.03);
    assertEquals(0.5, share(existence, 4 * sweeps), 0.05);
    assertTrue(yes > 0 && yes < existence, yes + " of " + existence);
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0.2, 0.2, 0.3, 0.35, 0, 0, QuestionWeights.UNIFORM));
  }

  @Test
  void positionSweepsAskDistinctPairsOfOneImageAndAnswerTrue() {
    WorldMix mix = new WorldMix(0, 0, 0.2, 0, 0.1, 0.1, 0.3, 0, QuestionWeights.UNIFORM);
    WorldDatasets data = new WorldDatasets(11, SIZES, mix);
    int n = 3000;
    int sweeps = 0;
    int turns = 0;
    int left = 0;
    int bothWays = 0;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      if (sample.kind() != SampleKind.VQA
          || sample.turns().size() < 2
          || !sample.turns().stream().allMatch(t -> t.question().contains(" to the left or "))) {
        continue;
      }
      // A sweep asks as many pairs as it can, up to four; an ordinary VQA sample of position
      // turns asks as many only rarely.
      int pairs = Questions.positionPairs(sample.scene()).size();
      if (sample.turns().size() != Math.min(WorldDatasets.POSITION_SWEEP_TURNS, pairs)) {
        continue;
      }
      sweeps++;
      assertEquals(QuestionType.POSITION, sample.type());
      Set<String> asked = new HashSet<>();
      for (Turn t : sample.turns()) {
        assertTrue(asked.add(t.question()), "asked twice: " + t.question());
        Matcher m = POSITION.matcher(t.question());
        assertTrue(m.find(), t.question());
        PlacedShape a = named(sample.scene(), m.group(1));
        PlacedShape b = named(sample.scene(), m.group(2));
        assertTrue(
            Math.abs(a.centerX() - b.centerX())
                >= Questions.MIN_POSITION_GAP * sample.scene().width());
        assertEquals(a.centerX() < b.centerX() ? "left" : "right", t.answer(), t.question());
        left += t.answer().equals("left") ? 1 : 0;
        turns++;
        if (asked.contains(POSITION_QUESTION.formatted(m.group(2), m.group(1)))) {
          bothWays++;
        }
      }
    }
    assertEquals(0.3, share(sweeps, n), 0.04);
    assertEquals(0.5, share(left, turns), 0.04);
    assertTrue(bothWays > 0, "no pair asked both ways round");
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0.2, 0.2, 0.2, 0.2, 0.3, 0, QuestionWeights.UNIFORM));
  }

  @Test
  void widePositionSweepsDrawImagesThreeTimesAsWideAsTallAndAnswerTrue() {
    WorldMix mix = new WorldMix(0, 0, 0, 0, 0, 0, 1, 0, QuestionWeights.UNIFORM, 0, 0.5);
    WorldDatasets data = new WorldDatasets(12, SIZES, mix);
    int n = 600;
    int wide = 0;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      assertEquals(QuestionType.POSITION, sample.type());
      Scene scene = sample.scene();
      if (scene.width() >= WorldMix.WIDE_ASPECT * scene.height()) {
        wide++;
      }
      for (Turn t : sample.turns()) {
        Matcher m = POSITION.matcher(t.question());
        assertTrue(m.find(), t.question());
        PlacedShape a = named(scene, m.group(1));
        PlacedShape b = named(scene, m.group(2));
        assertEquals(a.centerX() < b.centerX() ? "left" : "right", t.answer(), t.question());
      }
    }
    // half drawn wide, and one in eight of the rest is that wide anyway
    assertEquals(0.5 + 0.5 * 0.125, share(wide, n), 0.06);
    // a size range too narrow for the aspect draws every scene as usual
    WorldDatasets square = new WorldDatasets(12, SizeRange.square(256), mix);
    for (int i = 0; i < 50; i++) {
      Scene scene = square.instruction().scene();
      assertEquals(256, scene.width());
      assertEquals(256, scene.height());
    }
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0, 0, 0, 0, 1, 0, QuestionWeights.UNIFORM, 0, 1.5));
  }

  @Test
  void repeatedCountsAskAboutAKindOrColourTwoShapesShareWhereTheImageHasOne() {
    QuestionWeights counts =
        QuestionWeights.parse("count=0,color=0,shape=0,position=0,existence=0");
    int[] plain = repeatedCounts(new WorldMix(0, 0, 0, 0, 0, 0, 0, 0, counts));
    int[] repeated = repeatedCounts(new WorldMix(0, 0, 0, 0, 0, 0, 0, 1, counts));
    // Held-out style, a present attribute is mostly one shape's (about 28% of the turns in an image
    // with a repeat are answered 2 or more); asked for repeats, every one of them.
    System.out.println(
        "PLAIN "
            + plain[1]
            + " of "
            + plain[0]
            + " REPEATED "
            + repeated[1]
            + " of "
            + repeated[0]);
    assertTrue(plain[1] < 0.35 * plain[0], plain[1] + " of " + plain[0]);
    assertEquals(repeated[0], repeated[1]);
    assertTrue(repeated[0] > 500, "" + repeated[0]);
    assertThrows(
        IllegalArgumentException.class,
        () -> new WorldMix(0, 0, 0, 0, 0, 0, 0, 1.5, QuestionWeights.UNIFORM));
  }

  /**
   * Over 2000 instruction samples of {@code mix}: {turns in an image where two shapes share a kind
   * or a colour, those answered 2 or more}; every answer checked against its image.
   */
  private static int[] repeatedCounts(WorldMix mix) {
    WorldDatasets data = new WorldDatasets(12, SIZES, mix);
    int withRepeat = 0;
    int many = 0;
    for (int i = 0; i < 2000; i++) {
      Sample sample = data.instruction();
      if (sample.kind() != SampleKind.VQA) {
        continue;
      }
      Scene scene = sample.scene();
      boolean repeat =
          Arrays.stream(ShapeKind.values()).anyMatch(k -> SceneFacts.count(scene, k) >= 2)
              || Arrays.stream(ShapeColor.values()).anyMatch(c -> SceneFacts.count(scene, c) >= 2);
      for (Turn t : sample.turns()) {
        String q = t.question().substring(0, t.question().indexOf('\n'));
        assertTrue(q.startsWith("How many ") && !q.startsWith("How many shapes"), q);
        int count = Integer.parseInt(t.answer());
        assertEquals(expectedCount(scene, q.split(" ")[2]), count, q);
        if (repeat) {
          withRepeat++;
          many += count >= 2 ? 1 : 0;
        }
      }
    }
    return new int[] {withRepeat, many};
  }

  private static final String POSITION_QUESTION =
      "Is the %s to the left or to the right of the %s?" + Questions.SHORT_ANSWER_PROMPT;

  private static final Pattern POSITION =
      Pattern.compile("^Is the (\\w+ \\w+) to the left or to the right of the (\\w+ \\w+)\\?");

  /** The one shape of {@code scene} called {@code name} ("red circle"). */
  private static PlacedShape named(Scene scene, String name) {
    List<PlacedShape> found = scene.shapes().stream().filter(s -> s.name().equals(name)).toList();
    assertEquals(1, found.size(), name);
    return found.get(0);
  }

  /**
   * Checks every turn of a sweep against its scene, each kind or colour asked once (gathered in
   * {@code asked}), and the sample's type against its first turn; returns how many turns asked
   * whether there is one, and how many of those are answered yes.
   */
  private static int[] checkSweep(Sample sample, Set<String> asked) {
    int existence = 0;
    int yes = 0;
    for (Turn t : sample.turns()) {
      String q = t.question().substring(0, t.question().indexOf('\n'));
      String word = q.startsWith("Is there a") ? q.split(" ")[3] : q.split(" ")[2];
      assertTrue(asked.add(word), "asked twice: " + word);
      int count = expectedCount(sample.scene(), word);
      if (q.startsWith("Is there a")) {
        existence++;
        yes += count > 0 ? 1 : 0;
        assertEquals(count > 0 ? "yes" : "no", t.answer(), q);
      } else {
        assertEquals(Integer.toString(count), t.answer(), q);
      }
    }
    QuestionType first =
        sample.turns().get(0).question().startsWith("Is there")
            ? QuestionType.EXISTENCE
            : QuestionType.ATTRIBUTE_COUNT;
    assertEquals(first, sample.type());
    return new int[] {existence, yes};
  }

  /** Four turns, each about a colour ("a red shape", "red shapes"). */
  private static boolean isColorSweep(Sample sample) {
    return sample.turns().size() == WorldDatasets.COLOR_SWEEP_TURNS
        && sample.turns().stream()
            .allMatch(
                t ->
                    t.question().matches("Is there an? \\w+ shape in the image\\?\\n.*")
                        || t.question().matches("How many \\w+ shapes are there\\?\\n.*"));
  }

  /** Four turns, one about each kind alone, whether there is one or how many. */
  private static boolean isSweep(Sample sample) {
    if (sample.turns().size() != ShapeKind.values().length) {
      return false;
    }
    Set<String> kinds = new HashSet<>();
    for (Turn t : sample.turns()) {
      String q = t.question();
      for (ShapeKind k : ShapeKind.values()) {
        if (q.startsWith("Is there a " + k.word() + " in")
            || q.startsWith("How many " + k.plural() + " are")) {
          kinds.add(k.word());
        }
      }
    }
    return kinds.size() == ShapeKind.values().length;
  }

  private static int expectedCount(Scene scene, String word) {
    for (ShapeColor color : ShapeColor.values()) {
      if (color.word().equals(word)) {
        return SceneFacts.count(scene, color);
      }
    }
    for (ShapeKind kind : ShapeKind.values()) {
      if (kind.word().equals(word) || kind.plural().equals(word)) {
        return SceneFacts.count(scene, kind);
      }
    }
    throw new AssertionError("not a colour or kind: " + word);
  }

  @Test
  void instructionMixesVqaConversationDetailAndReasoningLikeLlava15() {
    WorldDatasets data = new WorldDatasets(1, SIZES);
    Map<SampleKind, Integer> kinds = new EnumMap<>(SampleKind.class);
    Map<QuestionType, Integer> types = new EnumMap<>(QuestionType.class);
    Set<Integer> vqaTurns = new HashSet<>();
    int n = 4000;
    for (int i = 0; i < n; i++) {
      Sample sample = data.instruction();
      kinds.merge(sample.kind(), 1, Integer::sum);
      assertAscii(sample);
      if (sample.kind() == SampleKind.VQA) {
        types.merge(sample.type(), 1, Integer::sum);
        vqaTurns.add(sample.turns().size());
        assertVqaTurnOfType(sample.type(), sample.turns().get(0));
        sample
            .turns()
            .forEach(t -> assertTrue(t.question().endsWith(Questions.SHORT_ANSWER_PROMPT)));
        assertEquals(
            sample.turns().size(),
            sample.turns().stream().map(Turn::question).distinct().count(),
            "no question repeats within a sample");
      } else {
        assertNull(sample.type());
      }
    }
    assertEquals(0.55, share(kinds.get(SampleKind.VQA), n), 0.03);
    assertEquals(0.15, share(kinds.get(SampleKind.CONVERSATION), n), 0.02);
    assertEquals(0.15, share(kinds.get(SampleKind.DETAIL), n), 0.02);
    assertEquals(0.15, share(kinds.get(SampleKind.REASONING), n), 0.02);
    assertFalse(kinds.containsKey(SampleKind.CAPTION));
    int vqa = kinds.get(SampleKind.VQA);
    for (QuestionType type : QuestionType.values()) {
      assertEquals(1.0 / 6, share(types.get(type), vqa), 0.025, type.name());
    }
    assertEquals(Set.of(1, 2, 3, 4), vqaTurns);
  }

  @Test
  void captionSamplesPairABriefInstructionWithTheCaption() {
    WorldDatasets data = new WorldDatasets(2, SIZES);
    Set<String> prompts = new HashSet<>();
    for (int i = 0; i < 300; i++) {
      Sample sample = data.caption();
      assertEquals(SampleKind.CAPTION, sample.kind());
      assertNull(sample.type());
      assertEquals(1, sample.turns().size());
      Turn turn = sample.turns().get(0);
      prompts.add(turn.question());
      for (PlacedShape s : sample.scene().shapes()) {
        assertTrue(turn.answer().contains(s.color().word() + " " + s.kind().word()), turn.answer());
      }
    }
    assertTrue(prompts.contains("Give a short caption of the image.") && prompts.size() >= 4);
  }

  @Test
  void vqaOfAGivenTypeHoldsOneTurnOfThatType() {
    WorldDatasets data = new WorldDatasets(3, SIZES);
    for (QuestionType type : QuestionType.values()) {
      for (int i = 0; i < 50; i++) {
        Sample sample = data.vqa(type);
        assertEquals(SampleKind.VQA, sample.kind());
        assertEquals(type, sample.type());
        assertEquals(1, sample.turns().size());
        assertVqaTurnOfType(type, sample.turns().get(0));
      }
    }
  }

  @Test
  void theSameSeedGivesTheSameSamplesAndTheSameImageBytes() throws IOException {
    List<Sample> a = mixed(new WorldDatasets(42, SIZES));
    List<Sample> b = mixed(new WorldDatasets(42, SIZES));
    assertEquals(a, b);
    for (int i = 0; i < 5; i++) {
      assertArrayEquals(SceneRenderer.png(a.get(i).scene()), SceneRenderer.png(b.get(i).scene()));
    }
    List<Sample> c = mixed(new WorldDatasets(43, SIZES));
    for (int i = 0; i < a.size(); i++) {
      assertNotEquals(a.get(i).scene(), c.get(i).scene());
    }
  }

  private static List<Sample> mixed(WorldDatasets data) {
    List<Sample> samples = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      samples.add(data.caption());
      samples.add(data.instruction());
      samples.add(data.vqa(QuestionType.values()[i % QuestionType.values().length]));
    }
    return samples;
  }

  @Test
  void theWideColourEvaluationSetAsksTheSameKindsOfQuestionsOfWideFills() {
    int perType = 40;
    List<Sample> wide = WorldDatasets.evaluationSet(5, perType, SIZES, true);
    assertEquals(wide, WorldDatasets.evaluationSet(5, perType, SIZES, true));
    assertEquals(
        WorldDatasets.evaluationSet(5, perType, SIZES),
        WorldDatasets.evaluationSet(5, perType, SIZES, false));
    assertEquals(perType * (QuestionType.values().length + 1), wide.size());
    Map<QuestionType, Long> types =
        wide.stream()
            .filter(s -> s.kind() == SampleKind.VQA)
            .collect(Collectors.groupingBy(Sample::type, Collectors.counting()));
    for (QuestionType type : QuestionType.values()) {
      assertEquals(perType, types.get(type));
    }
    wide.stream()
        .filter(s -> s.kind() == SampleKind.VQA)
        .forEach(s -> assertVqaTurnOfType(s.type(), s.turns().get(0)));
    for (Sample s : wide) {
      for (PlacedShape shape : s.scene().shapes()) {
        assertTrue(shape.color().holds(shape.rgb()), shape::toString);
      }
    }
  }

  @Test
  void theEvaluationSetIsBalancedRepeatableAndHeldOutFromTraining() {
    int perType = 200;
    List<Sample> eval = WorldDatasets.evaluationSet(5, perType, SIZES);
    assertEquals(perType * (QuestionType.values().length + 1), eval.size());
    assertEquals(eval, WorldDatasets.evaluationSet(5, perType, SIZES));
    assertNotEquals(eval, WorldDatasets.evaluationSet(6, perType, SIZES));

    Map<QuestionType, Long> types =
        eval.stream()
            .filter(s -> s.kind() == SampleKind.VQA)
            .collect(Collectors.groupingBy(Sample::type, Collectors.counting()));
    for (QuestionType type : QuestionType.values()) {
      assertEquals(perType, types.get(type));
    }
    assertEquals(perType, eval.stream().filter(s -> s.kind() == SampleKind.DETAIL).count());
    eval.forEach(s -> assertEquals(1, s.turns().size()));
    eval.stream()
        .filter(s -> s.kind() == SampleKind.VQA)
        .forEach(s -> assertVqaTurnOfType(s.type(), s.turns().get(0)));

    long yes =
        eval.stream()
            .filter(s -> s.type() == QuestionType.EXISTENCE)
            .filter(s -> s.turns().get(0).answer().equals("yes"))
            .count();
    assertEquals(0.5, (double) yes / perType, 0.1);

    Set<Scene> training = new HashSet<>();
    WorldDatasets data = new WorldDatasets(5, SIZES);
    for (int i = 0; i < 2000; i++) {
      training.add(data.instruction().scene());
      training.add(data.caption().scene());
    }
    eval.forEach(
        s -> assertFalse(training.contains(s.scene()), "evaluation scene seen in training"));
  }

  private static double share(Integer count, int total) {
    return count == null ? 0 : (double) count / total;
  }

  private static void assertAscii(Sample sample) {
    for (Turn turn : sample.turns()) {
      assertTrue((turn.question() + turn.answer()).chars().allMatch(c -> c < 128), turn.toString());
    }
  }
}
