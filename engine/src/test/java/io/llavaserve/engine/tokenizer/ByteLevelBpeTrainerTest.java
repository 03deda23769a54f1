package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ByteLevelBpeTrainerTest {

  @Test
  void theByteSymbolsComeFirstInGpt2sOrder() {
    ByteLevelBpeTrainer.Vocabulary v = ByteLevelBpeTrainer.train(Map.of("ab", 1L), 256);

    assertEquals("!", v.tokens().get(0));
    assertEquals("~", v.tokens().get(93));
    assertEquals("\u010a", v.tokens().get(198), "newline, Ċ, is 198 as in GPT-2 and Qwen2");
    assertEquals("\u0120", v.tokens().get(220), "space, Ġ, is 220 as in GPT-2 and Qwen2");
    assertEquals(List.of(), v.merges());
  }

  @Test
  void theMostFrequentPairMergesFirstAndCountsFollowEachMerge() {
    // (a, b) occurs 3 + 2 = 5 times, (b, c) 2 + 1 = 3; once "ab" exists, (ab, c) occurs twice
    // and outranks the lone (b, c) left in "bc".
    ByteLevelBpeTrainer.Vocabulary v =
        ByteLevelBpeTrainer.train(Map.of("ab", 3L, "abc", 2L, "bc", 1L), 259);

    assertEquals(List.of("ab", "abc", "bc"), v.tokens().subList(256, 259));
    assertEquals(
        List.of(List.of("a", "b"), List.of("ab", "c"), List.of("b", "c")),
        v.merges().stream().map(List::of).toList());
  }

  @Test
  void equalCountsMergeThePairOfLowerIdsFirst() {
    ByteLevelBpeTrainer.Vocabulary v = ByteLevelBpeTrainer.train(Map.of("zy", 1L, "ba", 1L), 258);

    assertEquals(List.of("ba", "zy"), v.tokens().subList(256, 258));
  }

  @Test
  void aRepeatedSymbolMergesLeftToRightWithoutOverlap() {
    // "aaa" -> (aa, a): the second pair of a's overlaps the first and is not merged.
    ByteLevelBpeTrainer.Vocabulary v = ByteLevelBpeTrainer.train(Map.of("aaa", 4L), 258);

    assertEquals(List.of("aa", "aaa"), v.tokens().subList(256, 258));
  }

  @Test
  void tooFewPairsForTheSizeAskedIsRefusedNamingBoth() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> ByteLevelBpeTrainer.train(Map.of("abc", 1L), 300));

    assertTrue(e.getMessage().contains("258 tokens"), e.getMessage());
    assertTrue(e.getMessage().contains("300"), e.getMessage());
  }

  @Test
  void theSameWordsGiveTheSameVocabulary() {
    Map<String, Long> words = Map.of("hello", 5L, "\u0120hello", 7L, "help", 3L, "yellow", 2L);

    ByteLevelBpeTrainer.Vocabulary a = ByteLevelBpeTrainer.train(words, 262);
    ByteLevelBpeTrainer.Vocabulary b = ByteLevelBpeTrainer.train(Map.copyOf(words), 262);

    assertEquals(a.tokens(), b.tokens());
    assertEquals(
        a.merges().stream().map(List::of).toList(), b.merges().stream().map(List::of).toList());
  }
}
