package io.llavaserve.engine.sampling;

import io.llavaserve.engine.sampling.constraint.TokenMask;

/**
 * What a model step computes for one sequence's next token, beside the candidates every row gets
 * ({@link RowOutput}): a draw over the whole vocabulary on the device, or the whole logits row for
 * the host.
 *
 * <p>The {@link Sampler} decides, per token, from the request's parameters: greedy and top-k need
 * only the candidates; temperature and min-p sampling over the whole vocabulary are drawn on the
 * device by inverse CDF with {@code uniform}, a number from the sequence's own random generator (so
 * a seeded request draws the same tokens whatever shares its batch); penalties and top-p without
 * top-k need every logit, so that row alone is copied out. A grammar's token mask can travel with a
 * greedy row or a device draw: the step then sets every id the mask does not allow to -infinity
 * before it ranks and draws, so a constrained sequence costs no copy of its row.
 *
 * @param temperature divides the logits before the device draw; 0 for no draw
 * @param minP tokens whose probability is below {@code minP} times the most likely's are left out
 *     of the device draw
 * @param uniform where the device draw lands in the cumulative mass, in [0, 1)
 * @param fullRow whether the step returns this row's logits
 * @param logprobs whether the step returns the row's log-normaliser, for reported logprobs
 * @param candidates how many of the most likely tokens the host needs, 1 to {@link
 *     RowOutput#CANDIDATES}; a step computes as many for every row as its neediest row asks
 * @param mask the ids this row may take, applied on the device before ranking and drawing; null for
 *     none. Candidates and the log-normaliser are then those of the masked row
 */
public record RowSampling(
    float temperature,
    float minP,
    float uniform,
    boolean fullRow,
    boolean logprobs,
    int candidates,
    TokenMask mask) {

  /** The top token only: greedy, or a row nobody samples from (a partial prefill chunk). */
  public static final RowSampling CANDIDATES = new RowSampling(0f, 0f, 0f, false, false, 1, null);

  public RowSampling {
    if (!(temperature >= 0) || !(minP >= 0 && minP <= 1) || !(uniform >= 0 && uniform < 1)) {
      throw new IllegalArgumentException(
          "temperature " + temperature + ", minP " + minP + ", uniform " + uniform);
    }
    if (mask != null && fullRow) {
      throw new IllegalArgumentException("a whole row is masked on the host, not on the device");
    }
    if (candidates < 1 || candidates > RowOutput.CANDIDATES) {
      throw new IllegalArgumentException(
          "candidates must be in [1, " + RowOutput.CANDIDATES + "], got " + candidates);
    }
  }

  /** A draw over the whole vocabulary on the device. */
  public static RowSampling draw(float temperature, float minP, float uniform) {
    return new RowSampling(temperature, minP, uniform, false, false, 1, null);
  }

  /** The whole logits row, for the host to sample from. */
  public static RowSampling full() {
    return new RowSampling(0f, 0f, 0f, true, false, 1, null);
  }

  /** This row with the log-normaliser as well. */
  public RowSampling withLogprobs() {
    return new RowSampling(temperature, minP, uniform, fullRow, true, candidates, mask);
  }

  /** This row with at least {@code n} candidates. */
  public RowSampling withCandidates(int n) {
    return new RowSampling(
        temperature, minP, uniform, fullRow, logprobs, Math.max(candidates, n), mask);
  }

  /** This row with the ids outside {@code allowed} masked on the device. */
  public RowSampling withMask(TokenMask allowed) {
    return new RowSampling(
        temperature,
        minP,
        uniform,
        fullRow,
        logprobs,
        candidates,
        java.util.Objects.requireNonNull(allowed, "allowed"));
  }

  /** Whether the step draws this row's token on the device. */
  public boolean drawsOnDevice() {
    return temperature > 0;
  }
}
