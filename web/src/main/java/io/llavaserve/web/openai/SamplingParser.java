package io.llavaserve.web.openai;

import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the sampling fields shared by chat completions and completions into SamplingParams; the two
 * endpoints differ only in {@code max_completion_tokens} (chat's name for {@code max_tokens}) and
 * in how {@code logprobs} is asked for.
 */
final class SamplingParser {

  private SamplingParser() {}

  /**
   * @param params validated parameters; max_tokens is the limit when the client gave none
   * @param maxTokensGiven whether the client set max_tokens (else it shrinks to fit the context)
   */
  record Parsed(SamplingParams params, boolean maxTokensGiven, int n) {}

  static Parsed parse(JsonObject body, RequestLimits limits, Endpoint endpoint) {
    SamplingParams.Builder b = SamplingParams.builder();
    Double d;
    if ((d = JsonFields.number(body, "temperature")) != null) {
      b.temperature(d);
    }
    if ((d = JsonFields.number(body, "top_p")) != null) {
      b.topP(d);
    }
    Integer i;
    if ((i = JsonFields.int32(body, "top_k")) != null) {
      b.topK(i);
    }
    if ((d = JsonFields.number(body, "min_p")) != null) {
      b.minP(d);
    }
    if ((d = JsonFields.number(body, "presence_penalty")) != null) {
      b.presencePenalty(d);
    }
    if ((d = JsonFields.number(body, "frequency_penalty")) != null) {
      b.frequencyPenalty(d);
    }
    if ((d = JsonFields.number(body, "repetition_penalty")) != null) {
      b.repetitionPenalty(d);
    }
    Long seed = JsonFields.integer(body, "seed");
    if (seed != null) {
      b.seed(seed);
    }
    Boolean ignoreEos = JsonFields.bool(body, "ignore_eos");
    if (ignoreEos != null) {
      b.ignoreEos(ignoreEos);
    }
    b.stop(stop(body));
    b.stopTokenIds(stopTokenIds(body));
    b.logitBias(logitBias(body));

    Integer n = JsonFields.int32(body, "n");
    if (n == null) {
      n = 1;
    } else if (n < 1 || n > limits.maxN()) {
      throw ApiError.badRequest(
          "n", "n must be in [1, " + limits.maxN() + "] (limits.max-n), got " + n);
    }

    String maxField = "max_tokens";
    Integer maxTokens = JsonFields.int32(body, "max_tokens");
    if (endpoint == Endpoint.CHAT_COMPLETIONS && maxTokens == null) {
      maxTokens = JsonFields.int32(body, "max_completion_tokens");
      maxField = "max_completion_tokens";
    }
    if (maxTokens != null) {
      if (maxTokens < 1) {
        throw ApiError.badRequest(maxField, maxField + " must be >= 1, got " + maxTokens);
      }
      if (maxTokens > limits.maxTokens()) {
        throw ApiError.badRequest(
            maxField,
            maxField
                + " must be <= "
                + limits.maxTokens()
                + " (limits.max-tokens), got "
                + maxTokens);
      }
      b.maxTokens(maxTokens);
    } else {
      b.maxTokens(limits.maxTokens());
    }

    b.logprobs(
        switch (endpoint) {
          case CHAT_COMPLETIONS -> chatLogprobs(body);
          case COMPLETIONS -> completionLogprobs(body);
        });
    try {
      return new Parsed(b.build(), maxTokens != null, n);
    } catch (IllegalArgumentException e) {
      throw ApiError.fromValidation(e);
    }
  }

  /**
   * OpenAI's {@code logit_bias}: an object from token ids (as strings) to biases in [-100, 100].
   */
  private static Map<Integer, Double> logitBias(JsonObject body) {
    Object v = body.getValue("logit_bias");
    if (v == null) {
      return Map.of();
    }
    if (!(v instanceof JsonObject o)) {
      throw JsonFields.wrongType("logit_bias", "an object from token ids to numbers", v);
    }
    Map<Integer, Double> out = new LinkedHashMap<>();
    for (String key : o.fieldNames()) {
      int id;
      try {
        id = Integer.parseInt(key.trim());
      } catch (NumberFormatException e) {
        throw ApiError.badRequest(
            "logit_bias", "logit_bias keys must be token ids, got '" + key + "'");
      }
      Object bias = o.getValue(key);
      if (!(bias instanceof Number n)) {
        throw JsonFields.wrongType("logit_bias", "an object from token ids to numbers", bias);
      }
      out.put(id, n.doubleValue());
    }
    return out;
  }

  /**
   * vLLM's {@code stop_token_ids}: token ids that end the answer like EOS (not shown in the text);
   * at most {@link #MAX_STOP_TOKEN_IDS}, each checked against the vocabulary at admission.
   */
  private static java.util.Set<Integer> stopTokenIds(JsonObject body) {
    Object v = body.getValue("stop_token_ids");
    if (v == null) {
      return java.util.Set.of();
    }
    if (!(v instanceof JsonArray a)) {
      throw JsonFields.wrongType("stop_token_ids", "an array of token ids", v);
    }
    if (a.size() > MAX_STOP_TOKEN_IDS) {
      throw ApiError.badRequest(
          "stop_token_ids",
          "stop_token_ids must hold at most " + MAX_STOP_TOKEN_IDS + " ids, got " + a.size());
    }
    java.util.Set<Integer> ids = new java.util.LinkedHashSet<>();
    for (Object o : a) {
      if (!(o instanceof Integer id) || id < 0) {
        throw JsonFields.wrongType("stop_token_ids", "an array of token ids >= 0", o);
      }
      ids.add(id);
    }
    return ids;
  }

  static final int MAX_STOP_TOKEN_IDS = 1024;

  private static List<String> stop(JsonObject body) {
    Object v = body.getValue("stop");
    if (v == null) {
      return List.of();
    }
    if (v instanceof String s) {
      return List.of(s);
    }
    if (!(v instanceof JsonArray a)) {
      throw JsonFields.wrongType("stop", "a string or an array of strings", v);
    }
    if (a.size() > SamplingParams.MAX_STOP_STRINGS) {
      throw ApiError.badRequest(
          "stop",
          "stop must hold at most "
              + SamplingParams.MAX_STOP_STRINGS
              + " strings, got "
              + a.size());
    }
    List<String> out = new ArrayList<>();
    for (Object o : a) {
      if (!(o instanceof String s)) {
        throw JsonFields.wrongType("stop", "a string or an array of strings", o);
      }
      out.add(s);
    }
    return out;
  }

  /**
   * Chat: {@code logprobs: true} reports the chosen token; {@code top_logprobs} adds alternatives.
   */
  private static int chatLogprobs(JsonObject body) {
    Boolean on = JsonFields.bool(body, "logprobs");
    Integer top = JsonFields.int32(body, "top_logprobs");
    if (top != null && !Boolean.TRUE.equals(on)) {
      throw ApiError.badRequest("top_logprobs", "top_logprobs requires logprobs: true");
    }
    if (top != null && (top < 0 || top > SamplingParams.MAX_LOGPROBS)) {
      throw ApiError.badRequest(
          "top_logprobs",
          "top_logprobs must be in [0, " + SamplingParams.MAX_LOGPROBS + "], got " + top);
    }
    return Boolean.TRUE.equals(on) ? (top == null ? 0 : top) : -1;
  }

  /** Completions: {@code logprobs: N} reports the chosen token and N alternatives. */
  private static int completionLogprobs(JsonObject body) {
    Integer n = JsonFields.int32(body, "logprobs");
    if (n == null) {
      return -1;
    }
    if (n < 0 || n > SamplingParams.MAX_LOGPROBS) {
      throw ApiError.badRequest(
          "logprobs", "logprobs must be in [0, " + SamplingParams.MAX_LOGPROBS + "], got " + n);
    }
    return n;
  }
}
