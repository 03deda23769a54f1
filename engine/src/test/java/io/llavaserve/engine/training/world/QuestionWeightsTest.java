package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QuestionWeightsTest {

  private static final SizeRange SIZES = new SizeRange(64, 1024);

  @Test
  void parsesPairsInAnyCaseAndUnnamedTypesWeighOne() {
    QuestionWeights w = QuestionWeights.parse("position=3, Attribute_Count=2,count=0");
    assertFalse(w.uniform());
    // total 1 + 1 + 3 + 1 + 2 + 0 = 8
    assertEquals(0, w.share(QuestionType.COUNT));
    assertEquals(1.0 / 8, w.share(QuestionType.COLOR), 1e-12);
    assertEquals(3.0 / 8, w.share(QuestionType.POSITION), 1e-12);
    assertEquals(2.0 / 8, w.share(QuestionType.ATTRIBUTE_COUNT), 1e-12);
    assertSame(QuestionWeights.UNIFORM, QuestionWeights.parse("color=1,shape=1"));
    assertEquals(1.0 / 6, QuestionWeights.UNIFORM.share(QuestionType.SHAPE), 1e-12);
  }

  @Test
  void refusesBadWeightsNamingTheField() {
    Map<String, String> refusals =
        Map.of(
            "position", "TYPE=WEIGHT",
            "where=2", "unknown question type \"where\"",
            "position=-1", "position questions must be finite and >= 0",
            "position=NaN", "position questions must be finite and >= 0",
            "position=x", "must be a number",
            "position=1,position=2", "position is weighted twice",
            "count=0,color=0,shape=0,position=0,existence=0,attribute_count=0",
                "at least one question type");
    refusals.forEach(
        (text, message) -> {
          IllegalArgumentException e =
              assertThrows(IllegalArgumentException.class, () -> QuestionWeights.parse(text));
          assertTrue(e.getMessage().contains(message), text + ": " + e.getMessage());
        });
  }

  @Test
  void drawsEachTypeAtItsShareAndNeverAWeightlessOne() {
    QuestionWeights w = QuestionWeights.parse("position=3,attribute_count=2,count=0");
    SplittableRandom r = new SplittableRandom(5);
    Map<QuestionType, Integer> drawn = new EnumMap<>(QuestionType.class);
    int n = 40_000;
    for (int i = 0; i < n; i++) {
      drawn.merge(w.draw(r), 1, Integer::sum);
    }
    assertFalse(drawn.containsKey(QuestionType.COUNT));
    for (QuestionType t : List.of(QuestionType.COLOR, QuestionType.POSITION)) {
      assertEquals(w.share(t), drawn.get(t) / (double) n, 0.01, t.toString());
    }
    assertEquals(
        w.share(QuestionType.ATTRIBUTE_COUNT),
        drawn.get(QuestionType.ATTRIBUTE_COUNT) / (double) n,
        0.01);
  }

  @Test
  void theInstructionStreamAsksTheWeightedTypesMoreAndUniformChangesNothing() {
    WorldMix weighted =
        new WorldMix(0, 0, 0, 0, 0, 0, 0, 0, QuestionWeights.parse("position=4,count=0"));
    WorldDatasets data = new WorldDatasets(11, SIZES, weighted);
    Map<QuestionType, Integer> first = new EnumMap<>(QuestionType.class);
    int vqa = 0;
    for (int i = 0; i < 3000; i++) {
      Sample s = data.instruction();
      if (s.kind() == SampleKind.VQA) {
        vqa++;
        first.merge(s.type(), 1, Integer::sum);
        for (Turn t : s.turns()) {
          assertFalse(t.question().startsWith("How many shapes are there"), t.question());
        }
      }
    }
    // 4 of 8 for position, none for count.
    assertEquals(0.5, first.get(QuestionType.POSITION) / (double) vqa, 0.04);
    assertFalse(first.containsKey(QuestionType.COUNT));

    WorldMix uniform = new WorldMix(0, 0, 0, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM);
    WorldDatasets a = new WorldDatasets(12, SIZES, uniform);
    WorldDatasets b = new WorldDatasets(12, SIZES);
    for (int i = 0; i < 200; i++) {
      assertEquals(b.instruction(), a.instruction());
    }
  }
}
