package io.llavaserve.engine.sampling;

import io.llavaserve.engine.sampling.constraint.TokenMask;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Chooses the next token of one sequence from its logits row, in vLLM's order: repetition penalty
 * (prompt and output ids), frequency and presence penalties (output ids), temperature, top-k,
 * top-p, min-p, then one draw. Temperature 0 is argmax with ties going to the lowest id.
 *
 * <p>The sampler owns the sequence's random generator, seeded from {@link SamplingParams#seed()}
 * when given, so a seeded request draws the same tokens whatever else shares its batch. It does not
 * record what it samples: the engine calls {@link #accept} for each token it appends to the
 * sequence, so a discarded sample (say, from a partial prefill chunk) does not count for the
 * penalties.
 *
 * <p>Reported logprobs are the log-softmax of the raw model logits, before penalties and
 * temperature, as OpenAI reports them; they are computed only when the request asks for them.
 *
 * <p>Not thread-safe: owned by the engine thread, like the sequence it belongs to.
 */
public final class Sampler {

  // Top-p histogram: candidates are binned by how far below the top logit they lie, in units of
  // (logit gap / temperature); 4 bins per unit over 64 units covers probabilities down to e^-64
  // of the most likely token, the last bin takes the rest.
  private static final int BINS_PER_UNIT = 4;
  private static final int NUM_BINS = 256;

  /** 0, 1, 2, ...: candidate positions standing for themselves in {@link #drawFromRanked}. */
  private static final int[] IDENTITY = java.util.stream.IntStream.range(0, 1024).toArray();

  private final SamplingParams params;
  private final SplittableRandom random;
  private final Penalties penalties;
  private final double[] binMass = new double[NUM_BINS];
  private final int[] binCount = new int[NUM_BINS];
  private float[] penalized = new float[0]; // [vocab] penalized copy of the row
  private float[] weights = new float[0]; // [vocab] exp((logit - max) / temperature)
  private int[] candidates = new int[0];
  private long[] keys = new long[0];
  private int numGenerated;

  /**
   * @param params the request's sampling parameters
   * @param promptTokenIds the prompt, seen by the repetition penalty
   */
  public Sampler(SamplingParams params, int[] promptTokenIds) {
    this.params = Objects.requireNonNull(params, "params");
    this.random =
        params.seed().isPresent()
            ? new SplittableRandom(params.seed().getAsLong())
            : new SplittableRandom();
    this.penalties = new Penalties(params, promptTokenIds);
  }

  public SamplingParams params() {
    return params;
  }

  /** Tokens accepted so far. */
  public int numGenerated() {
    return numGenerated;
  }

  /** Records a token appended to the sequence, for the penalties of later steps. */
  public void accept(int tokenId) {
    penalties.accept(tokenId);
    numGenerated++;
  }

  /**
   * What the next step must compute for this sequence's token: candidates only (greedy, top-k up to
   * {@link RowOutput#CANDIDATES}), a draw on the device (temperature and min-p over the whole
   * vocabulary; it takes this token's number from the sequence's random generator), or the whole
   * row (penalties, top-p without top-k, a larger top-k). Call once per token, just before the step
   * that produces it, and pass that step's output to {@link #sample(RowOutput)}.
   */
  public RowSampling next(int vocabSize) {
    return next(vocabSize, null);
  }

  /**
   * {@link #next(int)} for a constrained sequence whose grammar allows {@code mask} at this token
   * (null when unconstrained). Greedy decoding and the device draw take the mask to the device,
   * which ranks and draws over the allowed ids only; what needs the whole row (penalties, top-p,
   * top-k, logprobs of the raw logits) gets the whole row, masked on the host by {@link
   * #sample(RowOutput, TokenMask)}.
   */
  public RowSampling next(int vocabSize, TokenMask mask) {
    boolean topK = params.topKActive(vocabSize);
    boolean drawOnDevice = !params.isGreedy() && !topK && params.topP() >= 1;
    boolean constrained = mask != null || params.grammar().isPresent();
    RowSampling row;
    if (constrained) {
      row =
          mask != null
                  && !penalties.active()
                  && params.logprobs() < 0
                  && (params.isGreedy() || drawOnDevice)
              ? (params.isGreedy() ? RowSampling.CANDIDATES : deviceDraw()).withMask(mask)
              : RowSampling.full();
    } else if (penalties.active()
        || (!params.isGreedy()
            && (topK ? params.topK() > RowOutput.CANDIDATES : params.topP() < 1))) {
      row = RowSampling.full();
    } else if (params.isGreedy()) {
      row = RowSampling.CANDIDATES;
    } else if (topK) {
      row = RowSampling.CANDIDATES.withCandidates(params.topK());
    } else {
      row = deviceDraw();
    }
    return params.logprobs() >= 0
        ? row.withLogprobs().withCandidates(Math.max(1, params.logprobs()))
        : row;
  }

  /** A device draw with this token's number from the sequence's random generator. */
  private RowSampling deviceDraw() {
    return RowSampling.draw(
        (float) params.temperature(), (float) params.minP(), uniform(random.nextDouble()));
  }

  /** {@code u} as a float below 1 (a double just under 1 would round up to 1f). */
  private static float uniform(double u) {
    return Math.min((float) u, Math.nextDown(1f));
  }

  /**
   * The token of a step's output for the row {@link #next(int)} asked for: the full row is sampled
   * here; otherwise greedy takes the top candidate, top-k draws among the candidates, and the
   * device draw is taken as it is. Logprobs come from the candidates and the row's normaliser.
   */
  public SampledToken sample(RowOutput row) {
    if (row.fullRow() != null) {
      return sample(row.fullRow(), 0, row.vocabSize());
    }
    int chosen;
    if (params.isGreedy()) {
      chosen = row.topIds()[0];
    } else if (params.topKActive(row.vocabSize())) {
      int k = Math.min(params.topK(), row.topIds().length);
      double invTemperature = 1.0 / params.temperature();
      chosen =
          row.topIds()[
              drawFromRanked(
                  row.topLogits(), 0, IDENTITY, k, row.topLogits()[0], invTemperature, -1)];
    } else if (row.drawn() >= 0) {
      chosen = row.drawn();
    } else {
      throw new IllegalStateException("the step drew no token for a sampled row");
    }
    if (params.logprobs() < 0) {
      return new SampledToken(chosen, Float.NaN, List.of());
    }
    float logZ = row.logSumExp();
    int top = Math.min(params.logprobs(), row.topIds().length);
    List<TokenLogprob> alternatives = new java.util.ArrayList<>(top);
    for (int j = 0; j < top; j++) {
      alternatives.add(new TokenLogprob(row.topIds()[j], row.topLogits()[j] - logZ));
    }
    return new SampledToken(chosen, row.logitOf(chosen) - logZ, alternatives);
  }

  /**
   * The token of a constrained row. A row the device masked (greedy or drawn, see {@link #next(int,
   * TokenMask)}) gives its top candidate or its draw, checked against {@code mask}. Otherwise the
   * whole row (which {@link #next} asked for) is penalised, every id {@code mask} does not allow
   * set to -infinity, then sampled as usual; reported logprobs are still those of the raw logits.
   *
   * @throws IllegalStateException when the mask allows nothing
   */
  public SampledToken sample(RowOutput row, TokenMask mask) {
    float[] logits = row.fullRow();
    if (logits == null) {
      int chosen = params.isGreedy() ? row.topIds()[0] : row.drawn();
      if (!mask.allows(chosen) || Float.isNaN(row.logitOf(chosen))) {
        throw new IllegalStateException(
            "the grammar allows no token of the model's vocabulary (the step gave " + chosen + ")");
      }
      return new SampledToken(chosen, Float.NaN, List.of());
    }
    int n = row.vocabSize();
    penalized = ensure(penalized, n);
    System.arraycopy(logits, 0, penalized, 0, n);
    if (penalties.active()) {
      penalties.apply(penalized, 0, n);
    }
    mask.applyTo(penalized, 0, n);
    int best = TopK.argmax(penalized, 0, n);
    if (penalized[best] == Float.NEGATIVE_INFINITY || !mask.allows(best)) {
      throw new IllegalStateException("the grammar allows no token of the model's vocabulary");
    }
    int chosen = params.isGreedy() ? best : draw(penalized, 0, n);
    if (params.logprobs() < 0) {
      return new SampledToken(chosen, Float.NaN, List.of());
    }
    return Logprobs.of(logits, 0, n, chosen, params.logprobs());
  }

  /** Samples from a whole array of logits. */
  public SampledToken sample(float[] logits) {
    return sample(logits, 0, logits.length);
  }

  /**
   * Samples from {@code logits[offset .. offset + vocabSize)}, one row of the batch's {@code
   * [batch, vocab]} logits. The row is not modified.
   */
  public SampledToken sample(float[] logits, int offset, int vocabSize) {
    Objects.checkFromIndexSize(offset, vocabSize, logits.length);
    if (vocabSize == 0) {
      throw new IllegalArgumentException("vocabSize must be > 0");
    }
    float[] row = logits;
    int off = offset;
    if (penalties.active()) {
      penalized = ensure(penalized, vocabSize);
      System.arraycopy(logits, offset, penalized, 0, vocabSize);
      penalties.apply(penalized, 0, vocabSize);
      row = penalized;
      off = 0;
    }
    int chosen = params.isGreedy() ? TopK.argmax(row, off, vocabSize) : draw(row, off, vocabSize);
    if (params.logprobs() < 0) {
      return new SampledToken(chosen, Float.NaN, List.of());
    }
    return Logprobs.of(logits, offset, vocabSize, chosen, params.logprobs());
  }

  private int draw(float[] row, int off, int n) {
    float max = row[off + TopK.argmax(row, off, n)];
    if (max == Float.NEGATIVE_INFINITY) {
      throw new IllegalArgumentException("every logit is -inf or NaN; nothing to sample");
    }
    double invTemperature = 1.0 / params.temperature();
    if (params.topKActive(n)) {
      int[] ids = TopK.largest(row, off, n, params.topK());
      return drawFromRanked(row, off, ids, ids.length, max, invTemperature, -1);
    }
    if (params.topP() < 1) {
      return drawNucleus(row, off, n, max, invTemperature);
    }
    return drawFromAll(row, off, n, max, invTemperature);
  }

  /**
   * Top-p without sorting the vocabulary: one pass computes the weights, their total and a
   * histogram of mass by distance from the top logit; only the bins needed to reach {@code top_p}
   * of the mass are then sorted.
   */
  private int drawNucleus(float[] row, int off, int n, float max, double invTemperature) {
    Arrays.fill(binMass, 0);
    Arrays.fill(binCount, 0);
    double total = 0;
    for (int i = 0; i < n; i++) {
      double gap = (max - row[off + i]) * invTemperature;
      double w = Math.exp(-gap);
      total += w;
      int b = bin(gap);
      binMass[b] += w;
      binCount[b]++;
    }
    double needed = params.topP() * total;
    int lastBin = 0;
    int count = binCount[0];
    double mass = binMass[0];
    while (mass < needed && lastBin < NUM_BINS - 1) {
      lastBin++;
      mass += binMass[lastBin];
      count += binCount[lastBin];
    }
    keys = keys.length >= count ? keys : new long[count];
    int m = 0;
    for (int i = 0; i < n && m < count; i++) {
      float v = row[off + i];
      if (bin((max - v) * invTemperature) <= lastBin) {
        keys[m++] = TopK.key(v, i);
      }
    }
    Arrays.sort(keys, 0, m);
    candidates = candidates.length >= m ? candidates : new int[m];
    for (int j = 0; j < m; j++) {
      candidates[j] = TopK.id(keys[m - 1 - j]);
    }
    return drawFromRanked(row, off, candidates, m, max, invTemperature, total);
  }

  private static int bin(double gap) {
    return (int) Math.min(gap * BINS_PER_UNIT, NUM_BINS - 1);
  }

  /**
   * Applies top-p and min-p to {@code ids[0 .. count)}, ranked most likely first, and draws from
   * what is left. {@code total} is the mass top-p is relative to: the whole vocabulary's, or, when
   * negative, that of the ranked candidates (after top-k).
   */
  private int drawFromRanked(
      float[] row, int off, int[] ids, int count, float max, double invTemperature, double total) {
    weights = ensure(weights, count);
    double candidateMass = 0;
    for (int j = 0; j < count; j++) {
      weights[j] = (float) Math.exp((row[off + ids[j]] - max) * invTemperature);
      candidateMass += weights[j];
    }
    double needed = params.topP() * (total < 0 ? candidateMass : total);
    // Keep a token while the mass ranked above it is below top_p, so at least one is kept.
    int kept = 0;
    double mass = 0;
    while (kept < count && (kept == 0 || mass < needed)) {
      mass += weights[kept++];
    }
    // min_p is relative to the most likely token, whose weight is 1.
    float floor = (float) params.minP();
    while (kept > 1 && weights[kept - 1] < floor) {
      mass -= weights[--kept];
    }
    double u = random.nextDouble() * mass;
    double cumulative = 0;
    for (int j = 0; j < kept; j++) {
      cumulative += weights[j];
      if (u < cumulative) {
        return ids[j];
      }
    }
    return ids[kept - 1];
  }

  /** Temperature and min-p only: draws over the whole vocabulary by inverse CDF. */
  private int drawFromAll(float[] row, int off, int n, float max, double invTemperature) {
    weights = ensure(weights, n);
    float floor = (float) params.minP();
    double total = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
      float w = (float) Math.exp((row[off + i] - max) * invTemperature);
      if (w < floor) {
        w = 0;
      } else if (w > 0) {
        last = i;
      }
      weights[i] = w;
      total += w;
    }
    double u = random.nextDouble() * total;
    double cumulative = 0;
    for (int i = 0; i < n; i++) {
      cumulative += weights[i];
      if (u < cumulative) {
        return i;
      }
    }
    return last;
  }

  private static float[] ensure(float[] buffer, int size) {
    return buffer.length >= size ? buffer : new float[size];
  }
}
