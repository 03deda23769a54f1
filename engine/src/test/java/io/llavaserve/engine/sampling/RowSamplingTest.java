package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.sampling.constraint.JsonSchemaGrammar;
import io.llavaserve.engine.sampling.constraint.TokenMask;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The sampler's split between what the device computes per row ({@link Sampler#next}) and what the
 * host does with it ({@link Sampler#sample(RowOutput)}): the same tokens, logprobs and random
 * stream as sampling the whole row on the host.
 */
class RowSamplingTest {

  private static final int VOCAB = 32064;

  /** Draws {@code n} tokens of one row through the device split and through the host alone. */
  private static int[][] bothWays(SamplingParams params, float[] logits, int n) {
    Sampler split = new Sampler(params, new int[0]);
    Sampler host = new Sampler(params, new int[0]);
    int[][] out = new int[2][n];
    for (int i = 0; i < n; i++) {
      RowSampling asked = split.next(VOCAB);
      out[0][i] = split.sample(RowOutput.of(logits, 0, VOCAB, asked)).tokenId();
      out[1][i] = host.sample(logits).tokenId();
    }
    return out;
  }

  @Test
  void greedyAndTopKNeedOnlyTheCandidates() {
    assertEquals(
        RowSampling.CANDIDATES, new Sampler(SamplingParams.greedy(4), new int[0]).next(VOCAB));
    SamplingParams topK = SamplingParams.builder().temperature(0.9).topK(40).seed(3).build();
    RowSampling asked = new Sampler(topK, new int[0]).next(VOCAB);
    assertFalse(asked.fullRow());
    assertFalse(asked.drawsOnDevice());
  }

  @Test
  void greedyAndTopKDrawTheSameTokensAsTheHost() {
    float[] logits = SamplerTest.randomLogits(5, VOCAB);
    for (SamplingParams p :
        List.of(
            SamplingParams.greedy(8),
            SamplingParams.builder().temperature(1.3).topK(50).seed(11).build(),
            SamplingParams.builder().temperature(0.7).topK(64).minP(0.02).seed(12).build())) {
      int[][] both = bothWays(p, logits, 500);
      assertEquals(
          java.util.Arrays.toString(both[1]), java.util.Arrays.toString(both[0]), p.toString());
    }
  }

  @Test
  void temperatureSamplingDrawsOnTheDeviceFromTheSameRandomStream() {
    float[] logits = SamplerTest.randomLogits(6, VOCAB);
    SamplingParams p = SamplingParams.builder().temperature(0.8).minP(0.01).seed(21).build();
    RowSampling asked = new Sampler(p, new int[0]).next(VOCAB);
    assertTrue(asked.drawsOnDevice());
    assertFalse(asked.fullRow());
    int[][] both = bothWays(p, logits, 2000);
    int same = 0;
    for (int i = 0; i < both[0].length; i++) {
      same += both[0][i] == both[1][i] ? 1 : 0;
    }
    // The same uniform number lands in the same token but where float32 and float64 running
    // sums straddle a boundary.
    assertTrue(same >= 1990, same + " of 2000 draws agree");
  }

  @Test
  void penaltiesTopPAndLargeTopKAskForTheWholeRow() {
    int[] prompt = {5, 6, 7};
    for (SamplingParams p :
        List.of(
            SamplingParams.builder().temperature(0).repetitionPenalty(1.2).build(),
            SamplingParams.builder().temperature(0.9).topP(0.9).build(),
            SamplingParams.builder().temperature(0.9).topK(RowOutput.CANDIDATES + 1).build())) {
      assertTrue(new Sampler(p, prompt).next(VOCAB).fullRow(), p.toString());
    }
    SamplingParams topP = SamplingParams.builder().temperature(0.9).topP(0.8).seed(4).build();
    float[] logits = SamplerTest.randomLogits(8, VOCAB);
    int[][] both = bothWays(topP, logits, 300);
    assertEquals(java.util.Arrays.toString(both[1]), java.util.Arrays.toString(both[0]));
  }

  @Test
  void logprobsFromTheCandidatesEqualTheWholeRows() {
    float[] logits = SamplerTest.randomLogits(9, VOCAB);
    for (SamplingParams p :
        List.of(
            SamplingParams.builder().temperature(0).logprobs(20).build(),
            SamplingParams.builder().temperature(1).seed(2).logprobs(5).build(),
            SamplingParams.builder().temperature(1).topK(10).seed(2).logprobs(0).build())) {
      Sampler split = new Sampler(p, new int[0]);
      RowSampling asked = split.next(VOCAB);
      assertTrue(asked.logprobs());
      SampledToken got = split.sample(RowOutput.of(logits, 0, VOCAB, asked));
      SampledToken want = Logprobs.of(logits, 0, VOCAB, got.tokenId(), p.logprobs());
      assertEquals(want.logprob(), got.logprob(), 1e-4, p.toString());
      assertEquals(want.topLogprobs().size(), got.topLogprobs().size());
      for (int i = 0; i < want.topLogprobs().size(); i++) {
        assertEquals(want.topLogprobs().get(i).tokenId(), got.topLogprobs().get(i).tokenId());
        assertEquals(want.topLogprobs().get(i).logprob(), got.topLogprobs().get(i).logprob(), 1e-4);
      }
    }
  }

  @Test
  void aGrammarsMaskGoesToTheDeviceForGreedyAndPlainDrawsAndTheWholeRowOtherwise() {
    TokenMask mask = TokenMask.allowing(4, 100, 31999);
    SamplingParams.Builder base = SamplingParams.builder().grammar(JsonSchemaGrammar.anyObject());
    RowSampling greedy = new Sampler(base.temperature(0).build(), new int[0]).next(VOCAB, mask);
    assertEquals(mask, greedy.mask());
    assertFalse(greedy.fullRow());
    RowSampling draw =
        new Sampler(base.temperature(0.8).minP(0.05).seed(1).build(), new int[0]).next(VOCAB, mask);
    assertEquals(mask, draw.mask());
    assertTrue(draw.drawsOnDevice());
    for (SamplingParams p :
        List.of(
            base.temperature(0.8).topP(0.9).build(),
            base.temperature(0.8).topP(1).topK(5).build(),
            base.temperature(0).topK(0).repetitionPenalty(1.1).build(),
            base.temperature(0).repetitionPenalty(1).logprobs(2).build())) {
      RowSampling row = new Sampler(p, new int[] {3}).next(VOCAB, mask);
      assertTrue(row.fullRow(), p.toString());
      assertEquals(null, row.mask(), p.toString());
    }
    // Without the matcher's mask at hand a constrained row gets the whole row, as before.
    assertTrue(new Sampler(base.temperature(0).build(), new int[0]).next(VOCAB).fullRow());
  }

  @Test
  void aMaskedRowTakesTheSameTokensOnTheDeviceAsTheWholeRowMaskedOnTheHost() {
    float[] logits = SamplerTest.randomLogits(12, VOCAB);
    TokenMask mask =
        TokenMask.allowing(
            java.util.stream.IntStream.range(0, VOCAB).filter(i -> i % 7 == 2).toArray());
    for (SamplingParams p :
        List.of(
            SamplingParams.builder().temperature(0).grammar(JsonSchemaGrammar.anyObject()).build(),
            SamplingParams.builder()
                .temperature(1.1)
                .seed(5)
                .grammar(JsonSchemaGrammar.anyObject())
                .build())) {
      Sampler split = new Sampler(p, new int[0]);
      Sampler host = new Sampler(p, new int[0]);
      int same = 0;
      for (int i = 0; i < 300; i++) {
        int got =
            split.sample(RowOutput.of(logits, 0, VOCAB, split.next(VOCAB, mask)), mask).tokenId();
        int want = host.sample(RowOutput.of(logits, 0, VOCAB, host.next(VOCAB)), mask).tokenId();
        assertTrue(mask.allows(got), "took " + got);
        same += got == want ? 1 : 0;
      }
      // Greedy agrees everywhere; draws but where float32 and float64 running sums straddle.
      assertTrue(same >= (p.isGreedy() ? 300 : 295), same + " of 300 agree, " + p);
    }
  }

  @Test
  void aMaskedRowWhoseStepGaveADisallowedTokenIsAnError() {
    SamplingParams p =
        SamplingParams.builder().temperature(0).grammar(JsonSchemaGrammar.anyObject()).build();
    Sampler sampler = new Sampler(p, new int[0]);
    TokenMask mask = TokenMask.allowing(7);
    RowOutput row =
        new RowOutput(
            VOCAB,
            new int[] {0},
            new float[] {Float.NEGATIVE_INFINITY},
            Float.NaN,
            -1,
            Float.NaN,
            null);
    org.junit.jupiter.api.Assertions.assertThrows(
        IllegalStateException.class, () -> sampler.sample(row, mask));
  }
}
