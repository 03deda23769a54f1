package io.llavaserve.engine.sampling;

import java.util.ArrayList;
import java.util.List;

/** Log-softmax of one logits row, computed only for the tokens that are reported. */
final class Logprobs {

  private Logprobs() {}

  /**
   * {@code log(sum(exp(values)))} over {@code values[offset .. offset + n)}: one max pass and one
   * exp-sum pass, shifted by the max so that nothing overflows.
   */
  static double logSumExp(float[] values, int offset, int n) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      max = Math.max(max, values[offset + i]);
    }
    if (max == Float.NEGATIVE_INFINITY) {
      return max;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
      sum += Math.exp(values[offset + i] - max);
    }
    return max + Math.log(sum);
  }

  /** The chosen token's logprob and the {@code top} most likely alternatives, most likely first. */
  static SampledToken of(float[] raw, int offset, int n, int chosen, int top) {
    double logZ = logSumExp(raw, offset, n);
    float chosenLogprob = (float) (raw[offset + chosen] - logZ);
    if (top <= 0) {
      return new SampledToken(chosen, chosenLogprob, List.of());
    }
    int[] ids = TopK.largest(raw, offset, n, top);
    List<TokenLogprob> alternatives = new ArrayList<>(ids.length);
    for (int id : ids) {
      alternatives.add(new TokenLogprob(id, (float) (raw[offset + id] - logZ)));
    }
    return new SampledToken(chosen, chosenLogprob, alternatives);
  }
}
