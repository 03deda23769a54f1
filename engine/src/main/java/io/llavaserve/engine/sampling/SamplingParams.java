package io.llavaserve.engine.sampling;

import io.llavaserve.engine.sampling.constraint.Grammar;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * How one request's tokens are chosen and when its generation ends, with the field meanings of the
 * OpenAI completions API and vLLM's {@code SamplingParams}. Error messages use the wire
 * (snake_case) field names so that a 400 response tells the client which field to fix.
 *
 * @param temperature softmax temperature in [0, 2]; 0 (anything below 1e-5) means greedy
 * @param topP nucleus mass in (0, 1]; 1 disables it
 * @param topK keep only the k most likely tokens; -1 or 0 disables it
 * @param minP drop tokens whose probability is below {@code minP} times the top one's; 0 disables
 *     it
 * @param repetitionPenalty divides positive and multiplies negative logits of every token seen in
 *     the prompt or the output; 1 disables it
 * @param presencePenalty subtracted once from the logit of every token already generated
 * @param frequencyPenalty subtracted from a token's logit once per time it was generated
 * @param seed seeds this request's random draws, making it reproducible whatever else runs in the
 *     batch; empty for a random seed
 * @param maxTokens most tokens to generate
 * @param stop strings that end generation; the match and what follows are not returned
 * @param stopTokenIds token ids that end generation, in addition to EOS
 * @param ignoreEos keep generating past the EOS token
 * @param logprobs how many top alternatives to report with each token: -1 reports nothing, 0 only
 *     the chosen token's log-probability
 * @param logitBias added to the logits of these token ids before the penalties and sampling (as
 *     OpenAI's {@code logit_bias}: -100 in effect bans a token, 100 forces it); at most {@link
 *     #MAX_LOGIT_BIAS} entries, each in [-100, 100]
 * @param grammar constrains the output to the sentences of this grammar (OpenAI's {@code
 *     response_format} json_object or json_schema): at every step only tokens that keep the text a
 *     prefix of one may be sampled, and EOS only once it is a whole one; empty for free text
 * @param skipSpecialTokens leave the text of special tokens out of the output text (vLLM's {@code
 *     skip_special_tokens}, default true); off where a special token marks something to parse, as
 *     Mistral's {@code [TOOL_CALLS]} does
 */
public record SamplingParams(
    double temperature,
    double topP,
    int topK,
    double minP,
    double repetitionPenalty,
    double presencePenalty,
    double frequencyPenalty,
    OptionalLong seed,
    int maxTokens,
    List<String> stop,
    Set<Integer> stopTokenIds,
    boolean ignoreEos,
    int logprobs,
    Map<Integer, Double> logitBias,
    Optional<Grammar> grammar,
    boolean skipSpecialTokens) {

  public static final double MAX_TEMPERATURE = 2.0;
  public static final double MAX_ABS_PENALTY = 2.0;
  public static final int MAX_LOGPROBS = 20;
  public static final int MAX_STOP_STRINGS = 16;
  public static final int MAX_LOGIT_BIAS = 1024;
  public static final double MAX_ABS_LOGIT_BIAS = 100.0;

  /** Temperatures below this are treated as greedy, as vLLM does. */
  public static final double GREEDY_EPSILON = 1e-5;

  public SamplingParams {
    if (!(temperature >= 0 && temperature <= MAX_TEMPERATURE)) {
      throw invalid("temperature", "must be in [0, " + MAX_TEMPERATURE + "]", temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw invalid("top_p", "must be in (0, 1]", topP);
    }
    if (topK < -1) {
      throw invalid("top_k", "must be -1 or 0 (disabled) or >= 1", topK);
    }
    if (!(minP >= 0 && minP <= 1)) {
      throw invalid("min_p", "must be in [0, 1]", minP);
    }
    if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
      throw invalid("repetition_penalty", "must be > 0 and finite", repetitionPenalty);
    }
    if (!(Math.abs(presencePenalty) <= MAX_ABS_PENALTY)) {
      throw invalid("presence_penalty", "must be in [-2, 2]", presencePenalty);
    }
    if (!(Math.abs(frequencyPenalty) <= MAX_ABS_PENALTY)) {
      throw invalid("frequency_penalty", "must be in [-2, 2]", frequencyPenalty);
    }
    seed = seed == null ? OptionalLong.empty() : seed;
    if (maxTokens < 1) {
      throw invalid("max_tokens", "must be >= 1", maxTokens);
    }
    stop = stop == null ? List.of() : stop;
    if (stop.size() > MAX_STOP_STRINGS) {
      throw invalid("stop", "must hold at most " + MAX_STOP_STRINGS + " strings", stop.size());
    }
    for (String s : stop) {
      if (s == null || s.isEmpty()) {
        throw new IllegalArgumentException("stop: every stop string must be non-empty");
      }
    }
    stop = List.copyOf(stop);
    stopTokenIds = stopTokenIds == null ? Set.of() : stopTokenIds;
    for (Integer id : stopTokenIds) {
      if (id == null || id < 0) {
        throw new IllegalArgumentException("stop_token_ids: every id must be >= 0, got " + id);
      }
    }
    stopTokenIds = Set.copyOf(stopTokenIds);
    if (logprobs < -1 || logprobs > MAX_LOGPROBS) {
      throw invalid("logprobs", "must be in [0, " + MAX_LOGPROBS + "] (or -1 for none)", logprobs);
    }
    logitBias = logitBias == null ? Map.of() : logitBias;
    if (logitBias.size() > MAX_LOGIT_BIAS) {
      throw invalid(
          "logit_bias", "must hold at most " + MAX_LOGIT_BIAS + " entries", logitBias.size());
    }
    for (Map.Entry<Integer, Double> e : logitBias.entrySet()) {
      if (e.getKey() == null || e.getKey() < 0) {
        throw new IllegalArgumentException(
            "logit_bias: every key must be a token id >= 0, got " + e.getKey());
      }
      Double b = e.getValue();
      if (b == null || !(Math.abs(b) <= MAX_ABS_LOGIT_BIAS)) {
        throw new IllegalArgumentException(
            "logit_bias: the bias of token " + e.getKey() + " must be in [-100, 100], got " + b);
      }
    }
    logitBias = Map.copyOf(logitBias);
    grammar = grammar == null ? Optional.empty() : grammar;
  }

  /** vLLM's defaults: temperature 1, no filters, no penalties, 16 tokens, no logprobs. */
  public static SamplingParams defaults() {
    return builder().build();
  }

  /** Argmax decoding of at most {@code maxTokens} tokens. */
  public static SamplingParams greedy(int maxTokens) {
    return builder().temperature(0).maxTokens(maxTokens).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public Builder toBuilder() {
    return new Builder()
        .temperature(temperature)
        .topP(topP)
        .topK(topK)
        .minP(minP)
        .repetitionPenalty(repetitionPenalty)
        .presencePenalty(presencePenalty)
        .frequencyPenalty(frequencyPenalty)
        .seed(seed)
        .maxTokens(maxTokens)
        .stop(stop)
        .stopTokenIds(stopTokenIds)
        .ignoreEos(ignoreEos)
        .logprobs(logprobs)
        .logitBias(logitBias)
        .grammar(grammar.orElse(null))
        .skipSpecialTokens(skipSpecialTokens);
  }

  /**
   * These parameters with {@code eosIds} among the stop tokens, unless EOS is ignored: how the
   * further EOS ids of a checkpoint's generation_config.json end an answer, as vLLM adds them.
   */
  public SamplingParams withMoreEos(Set<Integer> eosIds) {
    if (ignoreEos || stopTokenIds.containsAll(eosIds)) {
      return this;
    }
    Set<Integer> ids = new java.util.HashSet<>(stopTokenIds);
    ids.addAll(eosIds);
    return toBuilder().stopTokenIds(ids).build();
  }

  /** Whether tokens are chosen by argmax, which makes the filters and the seed irrelevant. */
  public boolean isGreedy() {
    return temperature < GREEDY_EPSILON;
  }

  /** Whether top-k restricts the candidates for a vocabulary of {@code vocabSize} tokens. */
  public boolean topKActive(int vocabSize) {
    return topK > 0 && topK < vocabSize;
  }

  private static IllegalArgumentException invalid(String field, String rule, Object got) {
    return new IllegalArgumentException(field + " " + rule + ", got " + got);
  }

  /** Mutable builder starting from {@link #defaults()}' values; validation happens in build. */
  public static final class Builder {
    private double temperature = 1.0;
    private double topP = 1.0;
    private int topK = -1;
    private double minP = 0.0;
    private double repetitionPenalty = 1.0;
    private double presencePenalty = 0.0;
    private double frequencyPenalty = 0.0;
    private OptionalLong seed = OptionalLong.empty();
    private int maxTokens = 16;
    private List<String> stop = List.of();
    private Set<Integer> stopTokenIds = Set.of();
    private boolean ignoreEos = false;
    private int logprobs = -1;
    private Map<Integer, Double> logitBias = Map.of();
    private Grammar grammar;
    private boolean skipSpecialTokens = true;

    private Builder() {}

    public Builder temperature(double v) {
      temperature = v;
      return this;
    }

    public Builder topP(double v) {
      topP = v;
      return this;
    }

    public Builder topK(int v) {
      topK = v;
      return this;
    }

    public Builder minP(double v) {
      minP = v;
      return this;
    }

    public Builder repetitionPenalty(double v) {
      repetitionPenalty = v;
      return this;
    }

    public Builder presencePenalty(double v) {
      presencePenalty = v;
      return this;
    }

    public Builder frequencyPenalty(double v) {
      frequencyPenalty = v;
      return this;
    }

    public Builder seed(long v) {
      seed = OptionalLong.of(v);
      return this;
    }

    public Builder seed(OptionalLong v) {
      seed = v;
      return this;
    }

    public Builder maxTokens(int v) {
      maxTokens = v;
      return this;
    }

    public Builder stop(List<String> v) {
      stop = v;
      return this;
    }

    public Builder stop(String... v) {
      stop = Arrays.asList(v);
      return this;
    }

    public Builder stopTokenIds(Set<Integer> v) {
      stopTokenIds = v;
      return this;
    }

    public Builder ignoreEos(boolean v) {
      ignoreEos = v;
      return this;
    }

    public Builder logprobs(int v) {
      logprobs = v;
      return this;
    }

    public Builder logitBias(Map<Integer, Double> v) {
      logitBias = v;
      return this;
    }

    /** Constrains the output to {@code v}'s sentences; null for free text. */
    public Builder grammar(Grammar v) {
      grammar = v;
      return this;
    }

    /** Whether the output text leaves out special tokens (default true). */
    public Builder skipSpecialTokens(boolean v) {
      skipSpecialTokens = v;
      return this;
    }

    public SamplingParams build() {
      return new SamplingParams(
          temperature,
          topP,
          topK,
          minP,
          repetitionPenalty,
          presencePenalty,
          frequencyPenalty,
          seed,
          maxTokens,
          stop,
          stopTokenIds,
          ignoreEos,
          logprobs,
          logitBias,
          Optional.ofNullable(grammar),
          skipSpecialTokens);
    }
  }
}
