package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
}
