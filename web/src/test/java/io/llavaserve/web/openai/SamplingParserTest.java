package io.llavaserve.web.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** The sampling fields of both endpoints; each refusal a 400 naming the field and its bound. */
class SamplingParserTest {

  static final RequestLimits LIMITS = new RequestLimits(2, 100, 2048);

  static SamplingParser.Parsed chat(JsonObject body) {
    return SamplingParser.parse(body, LIMITS, Endpoint.CHAT_COMPLETIONS);
  }

  static SamplingParser.Parsed text(JsonObject body) {
    return SamplingParser.parse(body, LIMITS, Endpoint.COMPLETIONS);
  }

  static ApiError refused(Endpoint endpoint, JsonObject body) {
    return assertThrows(ApiError.class, () -> SamplingParser.parse(body, LIMITS, endpoint));
  }

  @Test
  void noMaxTokensMeansTheLimitAndSaysSo() {
    SamplingParser.Parsed p = chat(new JsonObject());
    assertEquals(100, p.params().maxTokens());
    assertFalse(p.maxTokensGiven());
    assertEquals(-1, p.params().logprobs(), "no logprobs unless asked");
  }

  @Test
  void everyFieldReachesTheParams() {
    JsonObject body =
        new JsonObject()
            .put("temperature", 0.5)
            .put("top_p", 0.9)
            .put("top_k", 40)
            .put("min_p", 0.05)
            .put("presence_penalty", 0.1)
            .put("frequency_penalty", -0.2)
            .put("repetition_penalty", 1.1)
            .put("seed", 7)
            .put("ignore_eos", true)
            .put("stop", new JsonArray().add("\n").add("END"))
            .put("max_tokens", 12);
    SamplingParser.Parsed p = text(body);
    SamplingParams s = p.params();
    assertEquals(0.5, s.temperature());
    assertEquals(0.9, s.topP());
    assertEquals(40, s.topK());
    assertEquals(0.05, s.minP());
    assertEquals(0.1, s.presencePenalty());
    assertEquals(-0.2, s.frequencyPenalty());
    assertEquals(1.1, s.repetitionPenalty());
    assertEquals(OptionalLong.of(7), s.seed());
    assertTrue(s.ignoreEos());
    assertEquals(List.of("\n", "END"), s.stop());
    assertEquals(12, s.maxTokens());
    assertTrue(p.maxTokensGiven());
    assertEquals(List.of("x"), text(new JsonObject().put("stop", "x")).params().stop());
  }

  @Test
  void maxCompletionTokensIsChatsNameForMaxTokens() {
    JsonObject body = new JsonObject().put("max_completion_tokens", 9);
    assertEquals(9, chat(body).params().maxTokens());
    assertEquals(100, text(body).params().maxTokens(), "not a completions field");
    ApiError e =
        refused(Endpoint.CHAT_COMPLETIONS, new JsonObject().put("max_completion_tokens", 0));
    assertEquals("max_completion_tokens", e.param());
  }

  @Test
  void maxTokensOverTheLimitNamesTheSetting() {
    ApiError e = refused(Endpoint.COMPLETIONS, new JsonObject().put("max_tokens", 101));
    assertEquals("max_tokens", e.param());
    assertTrue(e.getMessage().contains("limits.max-tokens"), e.getMessage());
  }

  @Test
  void chatAsksForLogprobsWithABooleanAndTopLogprobs() {
    assertEquals(0, chat(new JsonObject().put("logprobs", true)).params().logprobs());
    assertEquals(
        3, chat(new JsonObject().put("logprobs", true).put("top_logprobs", 3)).params().logprobs());
    assertEquals(
        "top_logprobs",
        refused(Endpoint.CHAT_COMPLETIONS, new JsonObject().put("top_logprobs", 3)).param());
    assertEquals(
        "top_logprobs",
        refused(
                Endpoint.CHAT_COMPLETIONS,
                new JsonObject().put("logprobs", true).put("top_logprobs", 21))
            .param());
  }

  @Test
  void completionsAskForLogprobsWithACount() {
    assertEquals(2, text(new JsonObject().put("logprobs", 2)).params().logprobs());
    assertEquals(
        "logprobs", refused(Endpoint.COMPLETIONS, new JsonObject().put("logprobs", 21)).param());
    assertEquals(
        "logprobs", refused(Endpoint.COMPLETIONS, new JsonObject().put("logprobs", true)).param());
  }

  @Test
  void refusalsNameTheirField() {
    assertEquals("n", refused(Endpoint.COMPLETIONS, new JsonObject().put("n", 0)).param());
    assertEquals("n", refused(Endpoint.COMPLETIONS, new JsonObject().put("n", 17)).param());
    assertEquals(
        "temperature",
        refused(Endpoint.COMPLETIONS, new JsonObject().put("temperature", 3)).param());
    assertEquals(
        "temperature",
        refused(Endpoint.COMPLETIONS, new JsonObject().put("temperature", "hot")).param());
    assertEquals("seed", refused(Endpoint.COMPLETIONS, new JsonObject().put("seed", 1.5)).param());
    JsonArray tooMany = new JsonArray();
    for (int i = 0; i <= SamplingParams.MAX_STOP_STRINGS; i++) {
      tooMany.add("s" + i);
    }
    assertEquals(
        "stop", refused(Endpoint.COMPLETIONS, new JsonObject().put("stop", tooMany)).param());
    assertEquals(
        "stop",
        refused(Endpoint.COMPLETIONS, new JsonObject().put("stop", new JsonArray().add(1)))
            .param());
  }
}
