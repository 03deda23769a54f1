package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PenaltiesTest {

  private static SamplingParams params(double repetition, double presence, double frequency) {
    return SamplingParams.builder()
        .repetitionPenalty(repetition)
        .presencePenalty(presence)
        .frequencyPenalty(frequency)
        .build();
  }

  @Test
  void repetitionDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
    Penalties p = new Penalties(params(2.0, 0, 0), new int[] {0, 1, 1});
    p.accept(3);
    float[] logits = {4f, -4f, 4f, 0f, -1f};
    p.apply(logits, 0, logits.length);
    // 0 and 1 from the prompt, 3 from the output; 2 and 4 unseen.
    assertArrayEquals(new float[] {2f, -8f, 4f, 0f, -1f}, logits);
  }

  @Test
  void frequencyAndPresenceFollowTheOpenAiFormula() {
    float rep = 1.3f;
    float presence = 0.25f;
    float frequency = 0.5f;
    Penalties p = new Penalties(params(rep, presence, frequency), new int[] {1, 2});
    int[] output = {2, 3, 3, 3, 5};
    for (int t : output) {
      p.accept(t);
    }
    float[] logits = {1.5f, 2.5f, -0.5f, 3f, 0.7f, -2f};
    float[] expected = logits.clone();
    int[] counts = new int[logits.length];
    for (int t : output) {
      counts[t]++;
    }
    boolean[] prompt = {false, true, true, false, false, false};
    for (int i = 0; i < logits.length; i++) {
      if (prompt[i] || counts[i] > 0) {
        expected[i] = expected[i] > 0 ? expected[i] / rep : expected[i] * rep;
      }
      expected[i] -= frequency * counts[i];
      expected[i] -= presence * (counts[i] > 0 ? 1 : 0);
    }
    p.apply(logits, 0, logits.length);
    assertArrayEquals(expected, logits, 1e-6f);
    assertEquals(3, p.count(3));
    // Concretely: token 3 generated 3 times: 3 / 1.3 - 1.5 - 0.25.
    assertEquals(3f / 1.3f - 1.75f, logits[3], 1e-6f);
  }

  @Test
  void appliesToOneRowOfABatchAndIgnoresIdsOutsideTheVocabulary() {
    Penalties p = new Penalties(params(2.0, 1.0, 0), new int[] {1, 32000});
    p.accept(0);
    float[] batch = {9f, 9f, 9f, 6f, 6f, 6f};
    p.apply(batch, 3, 3);
    assertArrayEquals(new float[] {9f, 9f, 9f, 2f, 3f, 6f}, batch);
  }

  @Test
  void activeOnlyWhenSomethingWouldChange() {
    assertFalse(new Penalties(params(1, 0, 0), new int[] {1, 2}).active());
    assertFalse(new Penalties(params(1, 0.5, 0), new int[] {1, 2}).active());
    assertTrue(new Penalties(params(1.2, 0, 0), new int[] {1}).active());
    Penalties p = new Penalties(params(1, 0, 0.5), new int[0]);
    assertFalse(p.active());
    p.accept(4);
    assertTrue(p.active());
  }
}
