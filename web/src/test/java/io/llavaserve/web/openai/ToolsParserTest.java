package io.llavaserve.web.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.sampling.constraint.ToolCallGrammar;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** tools, tool_choice, tool calls and tool messages read and checked; refusals name the field. */
class ToolsParserTest {

  static JsonObject weather() {
    return new JsonObject(
        """
        {"type":"function","function":{"name":"get_weather","description":"Weather now",
         "parameters":{"type":"object","properties":{"city":{"type":"string"}},
                       "required":["city"]},"strict":true}}""");
  }

  static JsonObject body() {
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", "Oslo?")))
        .put("tools", new JsonArray().add(weather()));
  }

  /** Parsed and bound to the default syntax, as a server over a model without a tool template. */
  static OpenAiRequest parse(JsonObject body) {
    return Endpoint.CHAT_COMPLETIONS
        .parse(body, RequestParserTest.LIMITS)
        .withToolSyntax(ToolCallSyntax.DEFAULT);
  }

  static String refusedParam(Consumer<JsonObject> change) {
    JsonObject b = body();
    change.accept(b);
    return assertThrows(ApiError.class, () -> parse(b)).param();
  }

  @Test
  void toolsDefaultToAutoAndForcedChoicesCarryAGrammar() {
    OpenAiRequest auto = parse(body());
    assertEquals(ToolUse.Choice.AUTO, auto.tools().choice());
    assertEquals("get_weather", auto.tools().tools().get(0).name());
    assertEquals("Weather now", auto.tools().tools().get(0).description());
    assertTrue(auto.sampling().grammar().isEmpty());

    OpenAiRequest required = parse(body().put("tool_choice", "required"));
    assertTrue(required.sampling().grammar().isPresent());
    assertTrue(required.tools().forced());

    OpenAiRequest named =
        parse(
            body()
                .put(
                    "tool_choice",
                    new JsonObject(
                        "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}")));
    assertEquals(ToolUse.Choice.NAMED, named.tools().choice());
    assertEquals("get_weather", named.tools().function());

    OpenAiRequest none = parse(body().put("tool_choice", "none"));
    assertTrue(none.tools().promptTools().isEmpty());
    assertFalse(none.tools().parsesCalls());
    assertTrue(none.sampling().grammar().isEmpty());
  }

  @Test
  void boundToAModelsSyntaxTheRequestGetsItsGrammarSpecialTokensAndStops() {
    JsonObject body = body().put("tool_choice", "required");
    OpenAiRequest unbound = Endpoint.CHAT_COMPLETIONS.parse(body, RequestParserTest.LIMITS);
    assertTrue(unbound.sampling().grammar().isEmpty(), "no grammar before the model is known");
    ToolCallSyntax llama =
        new ToolCallSyntax(ToolCallFormat.LLAMA3_JSON, ToolCallIds.OPENAI, Set.of(128008), true);
    OpenAiRequest bound = unbound.withToolSyntax(llama);
    assertEquals(llama, bound.tools().syntax());
    assertEquals(
        ToolCallGrammar.compile(
                ToolCallFormat.LLAMA3_JSON, bound.tools().constrained(), bound.tools().many())
            .key(),
        bound.sampling().grammar().orElseThrow().key());
    assertFalse(bound.sampling().skipSpecialTokens());
    assertEquals(Set.of(128008), bound.sampling().stopTokenIds());

    OpenAiRequest hermes = unbound.withToolSyntax(ToolCallSyntax.DEFAULT);
    assertTrue(hermes.sampling().skipSpecialTokens());
    assertEquals(Set.of(), hermes.sampling().stopTokenIds());
    assertFalse(
        hermes
            .sampling()
            .grammar()
            .orElseThrow()
            .key()
            .equals(bound.sampling().grammar().orElseThrow().key()));

    // tool_choice none reads no calls: nothing changes.
    OpenAiRequest none =
        Endpoint.CHAT_COMPLETIONS.parse(
            body.copy().put("tool_choice", "none"), RequestParserTest.LIMITS);
    assertEquals(none.sampling(), none.withToolSyntax(llama).sampling());
  }

  @Test
  void withToolCallsOffOnlyToolChoiceNoneIsAcceptedAsVllmRefusesAutoWithoutAParser() {
    for (Object choice :
        new Object[] {
          null,
          "auto",
          "required",
          new JsonObject("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}")
        }) {
      JsonObject body = body();
      if (choice != null) {
        body.put("tool_choice", choice);
      }
      OpenAiRequest parsed = Endpoint.CHAT_COMPLETIONS.parse(body, RequestParserTest.LIMITS);
      ApiError e = assertThrows(ApiError.class, () -> parsed.withToolSyntax(ToolCallSyntax.OFF));
      assertEquals(400, e.status(), "" + choice);
      assertEquals("tool_choice", e.param(), "" + choice);
      assertTrue(e.getMessage().contains("model.tool-call-parser=none"), e.getMessage());
    }
    OpenAiRequest none =
        Endpoint.CHAT_COMPLETIONS.parse(
            body().put("tool_choice", "none"), RequestParserTest.LIMITS);
    assertEquals(none.sampling(), none.withToolSyntax(ToolCallSyntax.OFF).sampling());
    OpenAiRequest noTools =
        Endpoint.CHAT_COMPLETIONS.parse(
            new JsonObject().put("messages", body().getJsonArray("messages")),
            RequestParserTest.LIMITS);
    assertEquals(noTools.sampling(), noTools.withToolSyntax(ToolCallSyntax.OFF).sampling());
  }

  @Test
  void theNewFormatsGetTheirGrammarsAndKeepTheirMarkers() {
    OpenAiRequest unbound =
        Endpoint.CHAT_COMPLETIONS.parse(
            body().put("tool_choice", "required"), RequestParserTest.LIMITS);
    ToolCallSyntax v11 =
        new ToolCallSyntax(ToolCallFormat.MISTRAL_V11, ToolCallIds.MISTRAL, Set.of(), true);
    OpenAiRequest mistral = unbound.withToolSyntax(v11);
    assertEquals(
        ToolCallGrammar.compile(
                ToolCallFormat.MISTRAL_V11, mistral.tools().constrained(), mistral.tools().many())
            .key(),
        mistral.sampling().grammar().orElseThrow().key());
    assertFalse(mistral.sampling().skipSpecialTokens());
    OpenAiRequest pythonic =
        unbound.withToolSyntax(new ToolCallSyntax(ToolCallFormat.PYTHONIC, ToolCallIds.OPENAI));
    assertEquals(
        ToolCallGrammar.compile(
                ToolCallFormat.PYTHONIC, pythonic.tools().constrained(), pythonic.tools().many())
            .key(),
        pythonic.sampling().grammar().orElseThrow().key());
  }

  @Test
  void legacyFunctionsMapOntoTools() {
    JsonObject b = body();
    b.remove("tools");
    b.put("functions", new JsonArray().add(weather().getJsonObject("function")));
    b.put("function_call", new JsonObject().put("name", "get_weather"));
    OpenAiRequest r = parse(b);
    assertEquals(ToolUse.Choice.NAMED, r.tools().choice());
    assertTrue(r.sampling().grammar().isPresent());
  }

  @Test
  void badToolsAreRefusedNamingTheField() {
    assertEquals("tools", refusedParam(b -> b.put("tools", "get_weather")));
    assertEquals(
        "tools[1].function.name",
        refusedParam(
            b ->
                b.getJsonArray("tools")
                    .add(new JsonObject("{\"type\":\"function\",\"function\":{}}"))));
    assertEquals(
        "tools[1].function.name",
        refusedParam(b -> b.getJsonArray("tools").add(weather())),
        "declared twice");
    assertEquals(
        "tools[0].type",
        refusedParam(b -> b.getJsonArray("tools").getJsonObject(0).put("type", "x")));
    assertEquals(
        "tools[0].function.parameters.type",
        refusedParam(
            b ->
                b.getJsonArray("tools")
                    .getJsonObject(0)
                    .getJsonObject("function")
                    .put("parameters", new JsonObject().put("type", "string"))));
    assertEquals(
        "tool_choice.function.name",
        refusedParam(
            b ->
                b.put(
                    "tool_choice",
                    new JsonObject("{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}"))));
    assertEquals("tool_choice", refusedParam(b -> b.put("tool_choice", "sometimes")));
    assertEquals(
        "tool_choice",
        refusedParam(
            b -> {
              b.remove("tools");
              b.put("tool_choice", "required");
            }));
    assertEquals("functions", refusedParam(b -> b.put("functions", new JsonArray())));
    // a forced call's schema must compile
    assertEquals(
        "tools[0].function.parameters.properties.city.pattern",
        refusedParam(
            b -> {
              b.getJsonArray("tools")
                  .getJsonObject(0)
                  .getJsonObject("function")
                  .getJsonObject("parameters")
                  .getJsonObject("properties")
                  .getJsonObject("city")
                  .put("pattern", "^[A-Z]");
              b.put("tool_choice", "required");
            }));
    assertEquals(
        "response_format",
        refusedParam(
            b ->
                b.put("tool_choice", "required")
                    .put("response_format", new JsonObject().put("type", "json_object"))));
  }

  static JsonObject roundTrip() {
    return body()
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "user").put("content", "Oslo?"))
                .add(
                    new JsonObject(
                        """
                        {"role":"assistant","content":null,"tool_calls":[{"id":"call_1",
                         "type":"function","function":{"name":"get_weather",
                         "arguments":"{\\"city\\": \\"Oslo\\"}"}}]}"""))
                .add(
                    new JsonObject()
                        .put("role", "tool")
                        .put("tool_call_id", "call_1")
                        .put("content", "{\"temp\": 3}")));
  }

  @Test
  void assistantCallsAndToolResultsAreRead() {
    OpenAiRequest r = parse(roundTrip());
    OpenAiRequest.Message call = r.messages().get(1);
    assertEquals("call_1", call.toolCalls().get(0).id());
    assertEquals("{\"city\": \"Oslo\"}", call.toolCalls().get(0).arguments());
    assertTrue(call.parts().isEmpty());
    assertNull(call.toolCallId());
    assertEquals("call_1", r.messages().get(2).toolCallId());
  }

  static JsonObject message(JsonObject body, int i) {
    return body.getJsonArray("messages").getJsonObject(i);
  }

  @Test
  void badCallsAndToolMessagesAreRefusedNamingTheField() {
    JsonObject noId = roundTrip();
    message(noId, 2).remove("tool_call_id");
    assertEquals(
        "messages[2].tool_call_id", assertThrows(ApiError.class, () -> parse(noId)).param());
    JsonObject unknownId = roundTrip();
    message(unknownId, 2).put("tool_call_id", "call_9");
    assertEquals(
        "messages[2].tool_call_id", assertThrows(ApiError.class, () -> parse(unknownId)).param());
    JsonObject noName = roundTrip();
    message(noName, 1)
        .getJsonArray("tool_calls")
        .getJsonObject(0)
        .getJsonObject("function")
        .remove("name");
    assertEquals(
        "messages[1].tool_calls[0].function.name",
        assertThrows(ApiError.class, () -> parse(noName)).param());
    JsonObject numberArgs = roundTrip();
    message(numberArgs, 1)
        .getJsonArray("tool_calls")
        .getJsonObject(0)
        .getJsonObject("function")
        .put("arguments", 3);
    assertEquals(
        "messages[1].tool_calls[0].function.arguments",
        assertThrows(ApiError.class, () -> parse(numberArgs)).param());
    JsonObject userCalls = roundTrip();
    message(userCalls, 0).put("tool_calls", new JsonArray());
    assertEquals(
        "messages[0].tool_calls", assertThrows(ApiError.class, () -> parse(userCalls)).param());
    JsonObject nullContent = roundTrip();
    message(nullContent, 1).remove("tool_calls");
    assertEquals(
        "messages[1].content", assertThrows(ApiError.class, () -> parse(nullContent)).param());
  }

  @Test
  void completionsStillRefuseTools() {
    JsonObject b =
        new JsonObject().put("prompt", "hi").put("tools", new JsonArray().add(weather()));
    assertEquals(
        "tools",
        assertThrows(ApiError.class, () -> Endpoint.COMPLETIONS.parse(b, RequestParserTest.LIMITS))
            .param());
  }
}
