package io.llavaserve.engine.sampling;

/**
 * What a model step returns for one sequence instead of its logits row: the most likely tokens, the
 * row's log-normaliser, the device draw when one was asked for ({@link RowSampling}), and the whole
 * row only when asked for it. Enough for greedy, top-k, temperature and min-p sampling and for
 * OpenAI's logprobs (at most {@link SamplingParams#MAX_LOGPROBS}) without copying {@code vocab}
 * floats per sequence per step.
 *
 * @param vocabSize the logits row's length
 * @param topIds the most likely ids, as many as the step's neediest row asked for (at most {@link
 *     #CANDIDATES}, and at most the vocabulary), most likely first, ties by lower id
 * @param topLogits their raw logits
 * @param logSumExp {@code log(sum(exp(logits)))} over the row, NaN when no row of the step asked
 *     for logprobs
 * @param drawn the device draw, or -1 when none was asked for
 * @param drawnLogit the drawn token's raw logit
 * @param fullRow the whole row, or null when not asked for
 */
public record RowOutput(
    int vocabSize,
    int[] topIds,
    float[] topLogits,
    float logSumExp,
    int drawn,
    float drawnLogit,
    float[] fullRow) {

  /** Candidates per row: more than top-k usually asks for, and at least the logprobs limit. */
  public static final int CANDIDATES = 64;

  public RowOutput {
    if (topIds.length == 0 || topIds.length != topLogits.length) {
      throw new IllegalArgumentException("a row needs candidates, one logit per id");
    }
    if (fullRow != null && fullRow.length != vocabSize) {
      throw new IllegalArgumentException("the full row must hold vocabSize logits");
    }
  }

  /**
   * The raw logit of {@code id} if this output holds it (a candidate, the draw or the full row),
   * else NaN.
   */
  public float logitOf(int id) {
    if (fullRow != null) {
      return fullRow[id];
    }
    for (int j = 0; j < topIds.length; j++) {
      if (topIds[j] == id) {
        return topLogits[j];
      }
    }
    return id == drawn ? drawnLogit : Float.NaN;
  }

  /**
   * The output of one row computed on the host from its logits {@code logits[offset .. offset +
   * vocabSize)} (with the row's mask applied, when it has one): what a runner without device
   * sampling returns, and the reference the device's output is tested against. Weights are float32
   * and their running sum float64, as on the device.
   */
  public static RowOutput of(float[] logits, int offset, int vocabSize, RowSampling sampling) {
    return of(logits, offset, vocabSize, sampling, sampling.candidates());
  }

  /** {@link #of(float[], int, int, RowSampling)} with {@code candidates} candidates. */
  public static RowOutput of(
      float[] logits, int offset, int vocabSize, RowSampling sampling, int candidates) {
    if (sampling.mask() != null) {
      float[] masked = java.util.Arrays.copyOfRange(logits, offset, offset + vocabSize);
      sampling.mask().applyTo(masked, 0, vocabSize);
      logits = masked;
      offset = 0;
    }
    int[] ids = TopK.largest(logits, offset, vocabSize, candidates);
    float[] top = new float[ids.length];
    for (int j = 0; j < ids.length; j++) {
      top[j] = logits[offset + ids[j]];
    }
    float lse = (float) Logprobs.logSumExp(logits, offset, vocabSize);
    int drawn = -1;
    if (sampling.drawsOnDevice()) {
      drawn = draw(logits, offset, vocabSize, top[0], sampling);
    }
    float[] full = null;
    if (sampling.fullRow()) {
      full = new float[vocabSize];
      System.arraycopy(logits, offset, full, 0, vocabSize);
    }
    return new RowOutput(
        vocabSize, ids, top, lse, drawn, drawn < 0 ? Float.NaN : logits[offset + drawn], full);
  }

  /**
   * Inverse CDF over {@code exp((logit - max) / temperature)}, weights under {@code minP} zeroed:
   * the first id whose running sum exceeds {@code uniform} times the total.
   */
  private static int draw(float[] logits, int offset, int n, float max, RowSampling s) {
    float invT = 1f / s.temperature();
    double[] cumulative = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      float w = (float) Math.exp((logits[offset + i] - max) * invT);
      sum += w < s.minP() ? 0f : w;
      cumulative[i] = sum;
    }
    double target = (double) s.uniform() * sum;
    for (int i = 0; i < n; i++) {
      if (cumulative[i] > target) {
        return i;
      }
    }
    return n - 1;
  }
}
