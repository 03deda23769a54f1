package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Tool calling over HTTP on the tiny random model: forced calls always valid, plain and streamed
 * alike, and a whole round trip through a tool's result.
 */
class ToolCallingTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  static final JsonArray TOOLS =
      new JsonArray(
          """
          [{"type":"function","function":{"name":"get_weather","description":"Weather in a city",
             "parameters":{"type":"object","properties":{
                "city":{"type":"string","maxLength":8},"unit":{"enum":["c","f"]}},
              "required":["city","unit"],"additionalProperties":false}}},
           {"type":"function","function":{"name":"get_time",
             "parameters":{"type":"object","properties":{"tz":{"enum":["utc","cet"]},
                "days":{"type":"array","items":{"type":"integer"},"maxItems":2}},
              "required":["tz"],"additionalProperties":false}}}]""");

  static JsonObject request(Object toolChoice, double temperature, boolean stream) {
    return new JsonObject()
        .put("model", TestServer.MODEL_ID)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "user").put("content", "Weather in Oslo?")))
        .put("tools", TOOLS)
        .put("tool_choice", toolChoice)
        .put("max_tokens", 300)
        .put("temperature", temperature)
        .put("seed", 7)
        .put("stream", stream);
  }

  static JsonObject named(String name) {
    return new JsonObject()
        .put("type", "function")
        .put("function", new JsonObject().put("name", name));
  }

  /** Checks a call against the schemas of {@link #TOOLS}, independently of the grammar. */
  static void assertValidCall(JsonObject call, Set<String> names) {
    ToolCallsOverHttp.assertValidCall(call, names, ToolCallsOverHttp.OPENAI_IDS);
  }

  static JsonObject post(JsonObject body) throws Exception {
    HttpResponse<String> r = server.get().post("/v1/chat/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  @Test
  void requiredAndNamedChoicesAlwaysGiveValidCallsGreedyAndSampled() throws Exception {
    Object[][] cases = {
      {"required", Set.of("get_weather", "get_time")},
      {named("get_time"), Set.of("get_time")},
      {named("get_weather"), Set.of("get_weather")}
    };
    for (Object[] c : cases) {
      for (double temperature : new double[] {0, 1.0}) {
        for (boolean parallel : new boolean[] {true, false}) {
          JsonObject body = request(c[0], temperature, false).put("parallel_tool_calls", parallel);
          JsonObject choice = post(body).getJsonArray("choices").getJsonObject(0);
          String what = c[0] + " t=" + temperature + " parallel=" + parallel + ": " + choice;
          JsonObject message = choice.getJsonObject("message");
          assertNull(message.getValue("content"), what);
          JsonArray calls = message.getJsonArray("tool_calls");
          assertFalse(calls.isEmpty(), what);
          int complete = calls.size();
          if (!parallel || c[0] instanceof JsonObject) {
            assertEquals("tool_calls", choice.getString("finish_reason"), what);
            assertEquals(1, calls.size(), what);
          } else if (choice.getString("finish_reason").equals("length")) {
            // The random model may call again and again until max_tokens cuts the last call.
            complete--;
          } else {
            assertEquals("tool_calls", choice.getString("finish_reason"), what);
          }
          for (int i = 0; i < complete; i++) {
            @SuppressWarnings("unchecked")
            Set<String> names = (Set<String>) c[1];
            assertValidCall(calls.getJsonObject(i), names);
          }
        }
      }
    }
  }

  @Test
  void eachOfSeveralChoicesCarriesItsOwnCallsPlainAndStreamed() throws Exception {
    JsonObject body = request(named("get_weather"), 1.0, false).put("n", 2);
    JsonArray choices = post(body).getJsonArray("choices");
    assertEquals(2, choices.size());
    for (int i = 0; i < 2; i++) {
      JsonObject choice = choices.getJsonObject(i);
      assertEquals(i, choice.getInteger("index"));
      assertEquals("tool_calls", choice.getString("finish_reason"), choice.encode());
      JsonArray calls = choice.getJsonObject("message").getJsonArray("tool_calls");
      assertEquals(1, calls.size(), choice.encode());
      assertValidCall(calls.getJsonObject(0), Set.of("get_weather"));
    }

    HttpResponse<String> r =
        server.get().post("/v1/chat/completions", body.copy().put("stream", true).encode());
    assertEquals(200, r.statusCode(), r.body());
    for (int i = 0; i < 2; i++) {
      StringBuilder own = new StringBuilder();
      for (String event : r.body().split("\n\n")) {
        if (event.startsWith("data: {")) {
          JsonArray cs = new JsonObject(event.substring("data: ".length())).getJsonArray("choices");
          if (cs != null && !cs.isEmpty() && cs.getJsonObject(0).getInteger("index") == i) {
            own.append(event).append("\n\n");
          }
        }
      }
      String[] finish = new String[1];
      JsonArray streamed = reassemble(own.toString(), finish);
      assertEquals("tool_calls", finish[0], "choice " + i);
      assertEquals(
          withoutIds(choices.getJsonObject(i).getJsonObject("message").getJsonArray("tool_calls")),
          withoutIds(streamed),
          "choice " + i + " streamed as it was answered whole (same seed)");
    }
  }

  /** The tool calls of a stream, reassembled from their deltas as the SDKs do. */
  static JsonArray reassemble(String sse, String[] finish) {
    return ToolCallsOverHttp.reassemble(
        sse, ToolCallsOverHttp.OPENAI_IDS, finish, new StringBuilder());
  }

  static JsonArray withoutIds(JsonArray calls) {
    return ToolCallsOverHttp.withoutIds(calls);
  }

  @Test
  void aRoundTripThroughAToolsResultPlainAndStreamed() throws Exception {
    JsonObject plain =
        post(request("required", 0, false).put("parallel_tool_calls", false))
            .getJsonArray("choices")
            .getJsonObject(0);
    JsonArray calls = plain.getJsonObject("message").getJsonArray("tool_calls");

    HttpResponse<String> s =
        server
            .get()
            .post(
                "/v1/chat/completions",
                request("required", 0, true).put("parallel_tool_calls", false).encode());
    assertEquals(200, s.statusCode(), s.body());
    String[] finish = {null};
    JsonArray streamed = reassemble(s.body(), finish);
    assertEquals("tool_calls", finish[0]);
    assertEquals(
        withoutIds(calls), withoutIds(streamed), "greedy: the stream makes the same calls");
    assertFalse(s.body().contains("<tool_call>"), "the stream carries no markup");

    // The client runs the tool and sends its result back.
    JsonArray messages =
        new JsonArray()
            .add(new JsonObject().put("role", "user").put("content", "Weather in Oslo?"))
            .add(
                new JsonObject()
                    .put("role", "assistant")
                    .putNull("content")
                    .put("tool_calls", calls));
    for (int i = 0; i < calls.size(); i++) {
      messages.add(
          new JsonObject()
              .put("role", "tool")
              .put("tool_call_id", calls.getJsonObject(i).getString("id"))
              .put("content", "{\"temperature\": 3}"));
    }
    JsonObject followUp =
        new JsonObject()
            .put("model", TestServer.MODEL_ID)
            .put("messages", messages)
            .put("tools", TOOLS)
            .put("max_tokens", 8)
            .put("temperature", 0);
    JsonObject answer = post(followUp);
    JsonObject choice = answer.getJsonArray("choices").getJsonObject(0);
    assertTrue(Set.of("stop", "length", "tool_calls").contains(choice.getString("finish_reason")));
    assertTrue(answer.getJsonObject("usage").getInteger("prompt_tokens") > 0);
    // the conversation with the tool's result is longer than the question alone
    JsonObject question = post(request("auto", 0, false).put("max_tokens", 1));
    assertTrue(
        answer.getJsonObject("usage").getInteger("prompt_tokens")
            > question.getJsonObject("usage").getInteger("prompt_tokens"));

    HttpResponse<String> streamedAnswer =
        server.get().post("/v1/chat/completions", followUp.copy().put("stream", true).encode());
    assertEquals(200, streamedAnswer.statusCode(), streamedAnswer.body());
    assertTrue(streamedAnswer.body().endsWith("data: [DONE]\n\n"));
  }

  @Test
  void autoAnswersThatCallNothingAreContent() throws Exception {
    JsonObject choice =
        post(request("auto", 0, false).put("max_tokens", 6))
            .getJsonArray("choices")
            .getJsonObject(0);
    JsonObject message = choice.getJsonObject("message");
    // the random model writes no <tool_call> block in six tokens
    assertTrue(message.getValue("content") instanceof String, message.encode());
    assertNull(message.getValue("tool_calls"));
    assertFalse(choice.getString("finish_reason").equals("tool_calls"));
  }
}
