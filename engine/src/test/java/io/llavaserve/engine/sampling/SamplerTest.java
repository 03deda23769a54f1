package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SamplerTest {

  private static final int[] NO_PROMPT = new int[0];
  private static final float[] SMALL = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};

  static float[] randomLogits(long seed, int n) {
    Random r = new Random(seed);
    float[] l = new float[n];
    for (int i = 0; i < n; i++) {
      l[i] = (float) (3 * r.nextGaussian());
    }
    return l;
  }

  @Test
  void greedyPicksTheArgmax() {
    float[] logits = randomLogits(7, 32064);
    int expected = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[expected]) {
        expected = i;
      }
    }
    Sampler s = new Sampler(SamplingParams.greedy(10), NO_PROMPT);
    assertEquals(expected, s.sample(logits).tokenId());
  }

  @Test
  void greedyTiesGoToTheLowestId() {
    Sampler s = new Sampler(SamplingParams.greedy(10), NO_PROMPT);
    assertEquals(2, s.sample(new float[] {0f, 1f, 3f, 3f, 3f}).tokenId());
  }

  @Test
  void samplesOneRowOfABatchWithoutModifyingIt() {
    float[] batch = {9f, 0f, 0f, 0f, 1f, 5f, 0f, 0f};
    float[] copy = batch.clone();
    SamplingParams params =
        SamplingParams.builder().temperature(0).repetitionPenalty(2).logprobs(2).build();
    Sampler s = new Sampler(params, new int[] {1});
    assertEquals(1, s.sample(batch, 4, 4).tokenId()); // token 1 penalized: 5/2 > 1
    s = new Sampler(params, new int[] {1, 0});
    assertEquals(1, s.sample(batch, 4, 4).tokenId()); // token 0: 1/2 < 2.5
    s = new Sampler(params, new int[] {1});
    s.accept(1);
    s.accept(1);
    assertArrayEquals(copy, batch);
  }

  @Test
  void penaltiesChangeTheGreedyChoice() {
    float[] logits = {5f, 4.9f, -1f};
    SamplingParams rep = SamplingParams.builder().temperature(0).repetitionPenalty(1.3).build();
    assertEquals(1, new Sampler(rep, new int[] {0}).sample(logits).tokenId());
    assertEquals(0, new Sampler(rep, new int[] {2}).sample(logits).tokenId());

    SamplingParams freq = SamplingParams.builder().temperature(0).frequencyPenalty(0.06).build();
    Sampler s = new Sampler(freq, NO_PROMPT);
    assertEquals(0, s.sample(logits).tokenId());
    s.accept(0);
    assertEquals(0, s.sample(logits).tokenId()); // 5 - 0.06 > 4.9
    s.accept(0);
    assertEquals(1, s.sample(logits).tokenId()); // 5 - 0.12 < 4.9
    assertEquals(2, s.numGenerated());
  }

  @Test
  void logitBiasBansAndForcesBeforeThePenaltiesAndAsksForTheWholeRow() {
    float[] logits = {5f, 4.9f, -1f, 2f};
    SamplingParams ban =
        SamplingParams.builder().temperature(0).logitBias(Map.of(0, -100.0)).build();
    Sampler banned = new Sampler(ban, NO_PROMPT);
    assertTrue(banned.next(logits.length).fullRow(), "a biased row is sampled whole");
    assertEquals(1, banned.sample(logits).tokenId());
    SamplingParams force =
        SamplingParams.builder().temperature(0.7).seed(3).logitBias(Map.of(2, 100.0)).build();
    Sampler forced = new Sampler(force, NO_PROMPT);
    for (int i = 0; i < 50; i++) {
      assertEquals(2, forced.sample(logits).tokenId());
    }
    // vLLM's order: the bias first, then the repetition penalty divides the biased logit.
    SamplingParams both =
        SamplingParams.builder()
            .temperature(0)
            .logitBias(Map.of(3, 4.0))
            .repetitionPenalty(2.0)
            .build();
    // token 3: (2 + 4) / 2 = 3 < token 1's 4.9; biased after the penalty it would be 1 + 4 = 5
    assertEquals(1, new Sampler(both, new int[] {0, 3}).sample(logits).tokenId());
    // The raw logits are reported, as for the penalties.
    SamplingParams logged =
        SamplingParams.builder().temperature(0).logprobs(0).logitBias(Map.of(0, -100.0)).build();
    SampledToken t = new Sampler(logged, NO_PROMPT).sample(logits);
    assertEquals(1, t.tokenId());
    double logZ = 0;
    for (float l : logits) {
      logZ += Math.exp(l);
    }
    assertEquals(4.9 - Math.log(logZ), t.logprob(), 1e-5);
  }

  @Test
  void logitBiasIsValidated() {
    assertThrows(
        IllegalArgumentException.class,
        () -> SamplingParams.builder().logitBias(Map.of(1, 100.5)).build());
    assertThrows(
        IllegalArgumentException.class,
        () -> SamplingParams.builder().logitBias(Map.of(-1, 1.0)).build());
  }

  @Test
  void aSeedReproducesTheDrawsAndAnotherSeedDoesNot() {
    float[] logits = randomLogits(3, 1000);
    int[] a = draws(42, logits, 0.9, 200);
    int[] b = draws(42, logits, 0.9, 200);
    int[] c = draws(43, logits, 0.9, 200);
    assertArrayEquals(a, b);
    assertFalse(Arrays.equals(a, c));
    assertArrayEquals(draws(5, logits, 1.0, 200), draws(5, logits, 1.0, 200));
  }

  private static int[] draws(long seed, float[] logits, double topP, int count) {
    SamplingParams params = SamplingParams.builder().seed(seed).topP(topP).build();
    Sampler s = new Sampler(params, NO_PROMPT);
    int[] out = new int[count];
    for (int i = 0; i < count; i++) {
      out[i] = s.sample(logits).tokenId();
    }
    return out;
  }

  @Test
  void seededDrawsDoNotDependOnTheRowsPositionInTheBatch() {
    float[] logits = randomLogits(11, 50);
    float[] batch = new float[150];
    System.arraycopy(logits, 0, batch, 100, 50);
    SamplingParams params = SamplingParams.builder().seed(9).build();
    Sampler alone = new Sampler(params, NO_PROMPT);
    Sampler inBatch = new Sampler(params, NO_PROMPT);
    for (int i = 0; i < 100; i++) {
      assertEquals(alone.sample(logits).tokenId(), inBatch.sample(batch, 100, 50).tokenId());
    }
  }

  /** Reference: softmax of logits / T, then top-k, top-p and min-p, each by a full sort. */
  static double[] expectedDistribution(
      float[] logits, double temperature, int topK, double topP, double minP) {
    int n = logits.length;
    Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
    Arrays.sort(
        order,
        Comparator.<Integer>comparingDouble(i -> -logits[i])
            .thenComparing(Comparator.naturalOrder()));
    double[] p = new double[n];
    for (int i = 0; i < n; i++) {
      p[i] = Math.exp(logits[i] / temperature);
    }
    normalize(p);
    if (topK > 0) {
      for (int r = topK; r < n; r++) {
        p[order[r]] = 0;
      }
      normalize(p);
    }
    if (topP < 1) {
      double before = 0;
      for (int r = 0; r < n; r++) {
        double pr = p[order[r]];
        if (before >= topP) {
          p[order[r]] = 0;
        }
        before += pr;
      }
      normalize(p);
    }
    double max = p[order[0]];
    for (int i = 0; i < n; i++) {
      if (p[i] < minP * max) {
        p[i] = 0;
      }
    }
    normalize(p);
    return p;
  }

  private static void normalize(double[] p) {
    double sum = Arrays.stream(p).sum();
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
    }
  }

  @ParameterizedTest(name = "T={0} top_k={1} top_p={2} min_p={3}")
  @CsvSource({
    "1.0, -1, 1.0, 0.0",
    "0.5, -1, 1.0, 0.0",
    "1.7, -1, 1.0, 0.0",
    "1.0, 3, 1.0, 0.0",
    "1.0, -1, 0.8, 0.0",
    "1.0, -1, 1.0, 0.1",
    "0.8, 4, 0.9, 0.05",
    "1.2, -1, 0.95, 0.02",
    "1.0, 5, 1.0, 0.2",
    "1.0, -1, 0.99, 0.2",
  })
  void frequenciesMatchTheFilteredSoftmax(double t, int k, double p, double minP) {
    SamplingParams params =
        SamplingParams.builder().temperature(t).topK(k).topP(p).minP(minP).seed(1234).build();
    double[] expected = expectedDistribution(SMALL, t, k, p, minP);
    int n = 20_000;
    int[] counts = new int[SMALL.length];
    Sampler s = new Sampler(params, NO_PROMPT);
    for (int i = 0; i < n; i++) {
      counts[s.sample(SMALL).tokenId()]++;
    }
    for (int i = 0; i < SMALL.length; i++) {
      double observed = counts[i] / (double) n;
      if (expected[i] == 0) {
        assertEquals(0, counts[i], "token " + i + " must be filtered out");
      } else {
        double sigma = Math.sqrt(expected[i] * (1 - expected[i]) / n);
        assertEquals(expected[i], observed, 5 * sigma + 1e-4, "token " + i);
      }
    }
  }

  @Test
  void topPOverALargeVocabularyDrawsOnlyFromTheNucleus() {
    float[] logits = randomLogits(21, 5000);
    for (double topP : new double[] {0.1, 0.5, 0.9, 0.99}) {
      double[] expected = expectedDistribution(logits, 0.7, -1, topP, 0);
      Sampler s =
          new Sampler(SamplingParams.builder().temperature(0.7).topP(topP).build(), NO_PROMPT);
      boolean[] seen = new boolean[logits.length];
      for (int i = 0; i < 2000; i++) {
        int id = s.sample(logits).tokenId();
        assertTrue(expected[id] > 0, "token " + id + " is outside the top_p=" + topP + " nucleus");
        seen[id] = true;
      }
      // The most likely token is always in the nucleus and, with this many draws, drawn.
      assertTrue(seen[TopK.argmax(logits, 0, logits.length)]);
    }
  }

  @Test
  void topPOnFlatLogitsKeepsTheLowestIds() {
    float[] flat = new float[100];
    Sampler s = new Sampler(SamplingParams.builder().topP(0.5).seed(3).build(), NO_PROMPT);
    int[] counts = new int[flat.length];
    for (int i = 0; i < 5000; i++) {
      counts[s.sample(flat).tokenId()]++;
    }
    for (int i = 0; i < flat.length; i++) {
      assertTrue(i < 50 ? counts[i] > 50 : counts[i] == 0, "token " + i + ": " + counts[i]);
    }
  }

  @Test
  void maskedTokensAreNeverDrawn() {
    float[] logits = {0f, Float.NEGATIVE_INFINITY, 0f, Float.NEGATIVE_INFINITY};
    for (SamplingParams params :
        List.of(
            SamplingParams.defaults(),
            SamplingParams.builder().topP(0.99).build(),
            SamplingParams.builder().topK(3).build())) {
      Sampler s = new Sampler(params, NO_PROMPT);
      for (int i = 0; i < 500; i++) {
        int id = s.sample(logits).tokenId();
        assertTrue(id == 0 || id == 2, params + " drew " + id);
      }
    }
    float[] allMasked = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
    Sampler s = new Sampler(SamplingParams.defaults(), NO_PROMPT);
    assertThrows(IllegalArgumentException.class, () -> s.sample(allMasked));
  }

  @Test
  void logprobsAreTheRawLogSoftmaxAndTheTopNInOrder() {
    float[] logits = randomLogits(5, 500);
    logits[17] = logits[TopK.argmax(logits, 0, 500)]; // a tie at the top
    double[] reference = new double[logits.length];
    double sum = 0;
    for (float l : logits) {
      sum += Math.exp(l);
    }
    for (int i = 0; i < logits.length; i++) {
      reference[i] = Math.log(Math.exp(logits[i]) / sum);
    }
    int[] ranked =
        IntStream.range(0, logits.length)
            .boxed()
            .sorted(
                Comparator.<Integer>comparingDouble(i -> -reference[i])
                    .thenComparing(Comparator.naturalOrder()))
            .mapToInt(Integer::intValue)
            .toArray();
    // Penalties and temperature change the draw, not the reported logprobs.
    SamplingParams params =
        SamplingParams.builder()
            .temperature(1.3)
            .repetitionPenalty(1.5)
            .presencePenalty(1)
            .logprobs(5)
            .seed(8)
            .build();
    Sampler s = new Sampler(params, new int[] {ranked[0], ranked[1]});
    s.accept(ranked[2]);
    for (int step = 0; step < 20; step++) {
      SampledToken t = s.sample(logits);
      assertEquals(reference[t.tokenId()], t.logprob(), 1e-5);
      assertEquals(5, t.topLogprobs().size());
      for (int j = 0; j < 5; j++) {
        TokenLogprob alt = t.topLogprobs().get(j);
        assertEquals(ranked[j], alt.tokenId(), "rank " + j);
        assertEquals(reference[ranked[j]], alt.logprob(), 1e-5);
      }
    }
  }

  @Test
  void logprobsZeroReportsOnlyTheChosenTokenAndMinusOneNothing() {
    SampledToken none = new Sampler(SamplingParams.greedy(1), NO_PROMPT).sample(SMALL);
    assertFalse(none.hasLogprob());
    assertTrue(none.topLogprobs().isEmpty());
    SampledToken chosen =
        new Sampler(SamplingParams.greedy(1).toBuilder().logprobs(0).build(), NO_PROMPT)
            .sample(SMALL);
    assertTrue(chosen.hasLogprob());
    assertTrue(chosen.topLogprobs().isEmpty());
    assertEquals(0, chosen.tokenId());
    assertNotEquals(0f, chosen.logprob());
    assertTrue(chosen.logprob() < 0);
  }

  @Test
  void logSumExpDoesNotOverflow() {
    float[] big = {1000f, 1000f};
    assertEquals(1000 + Math.log(2), Logprobs.logSumExp(big, 0, 2), 1e-9);
  }
}
