package io.llavaserve.web;

import static io.llavaserve.web.ToolCallsOverHttp.post;
import static io.llavaserve.web.ToolCallsOverHttp.reassemble;
import static io.llavaserve.web.ToolCallsOverHttp.stream;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.ToolTemplate;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Tool calling through Mistral 7B Instruct v0.3's own template: [TOOL_CALLS] and 9-character ids.
 */
class MistralToolCallingTest extends ToolFormatServing {

  @Override
  ToolTemplate template() {
    return ToolTemplate.MISTRAL_V0_3;
  }

  @Override
  String idPattern() {
    return ToolCallsOverHttp.MISTRAL_IDS;
  }

  @Override
  void assertRawFormat(String raw) {
    assertTrue(raw.startsWith("[TOOL_CALLS]"), raw);
    JsonArray calls = new JsonArray(raw.substring("[TOOL_CALLS]".length()).strip());
    assertEquals(1, calls.size(), raw);
    assertTrue(calls.getJsonObject(0).containsKey("arguments"), raw);
  }

  @Override
  void assertRoundTripPrompt(String prompt, JsonObject call) {
    JsonObject f = call.getJsonObject("function");
    String id = call.getString("id");
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            "[/INST][TOOL_CALLS] [{\"name\": \"" + f.getString("name") + "\", \"arguments\": "),
        prompt);
    assertTrue(ToolCallsOverHttp.holds(prompt, ", \"id\": \"" + id + "\"}]</s>"), prompt);
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            "[TOOL_RESULTS] {\"content\": {\"temp\": 3}, \"call_id\": \""
                + id
                + "\"}[/TOOL_RESULTS]"),
        prompt);
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            "[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""),
        prompt);
  }

  @Override
  String toolsInPrompt() {
    return "[AVAILABLE_TOOLS]";
  }

  @Test
  void theMarkerTokenReachesTheParserAndAloneStaysContent() throws Exception {
    int marker = markerId();
    // logit_bias makes the model write the special token; a marker with no calls is content.
    JsonObject body =
        request("auto", 0)
            .put("max_tokens", 1)
            .put("logit_bias", new JsonObject().put(String.valueOf(marker), 100));
    JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
    assertEquals(
        "[TOOL_CALLS]", choice.getJsonObject("message").getString("content"), choice.encode());
    assertNull(choice.getJsonObject("message").getValue("tool_calls"));
    assertEquals("length", choice.getString("finish_reason"));
    String[] finish = {null};
    StringBuilder content = new StringBuilder();
    reassemble(stream(server, body), idPattern(), finish, content);
    assertEquals("[TOOL_CALLS]", content.toString());
  }

  @Test
  void aForcedAnswerMayOpenWithTheMarkerTokenItself() throws Exception {
    int marker = markerId();
    JsonObject body =
        request("required", 0)
            .put("parallel_tool_calls", false)
            .put("logprobs", true)
            .put("logit_bias", new JsonObject().put(String.valueOf(marker), 100));
    JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
    JsonObject first = choice.getJsonObject("logprobs").getJsonArray("content").getJsonObject(0);
    assertEquals("[TOOL_CALLS]", first.getString("token"), choice.encode());
    assertEquals("tool_calls", choice.getString("finish_reason"), choice.encode());
    ToolCallsOverHttp.assertValidCall(
        choice.getJsonObject("message").getJsonArray("tool_calls").getJsonObject(0),
        java.util.Set.of("get_weather", "get_time"),
        idPattern());
  }

  int markerId() throws Exception {
    HttpResponse<String> t =
        server.post(
            "/tokenize",
            new JsonObject()
                .put("prompt", "[TOOL_CALLS]")
                .put("add_special_tokens", false)
                .encode());
    JsonArray ids = new JsonObject(t.body()).getJsonArray("tokens");
    assertEquals(1, ids.size(), t.body());
    return ids.getInteger(0);
  }

  @Test
  void anIdMistralsTemplateRefusesIsA400NamingTheMessages() throws Exception {
    JsonObject call =
        new JsonObject()
            .put("id", "call_abc")
            .put("type", "function")
            .put("function", new JsonObject().put("name", "get_time").put("arguments", "{}"));
    JsonObject body =
        new JsonObject()
            .put(
                "messages",
                new JsonArray()
                    .add(new JsonObject().put("role", "user").put("content", "Time?"))
                    .add(
                        new JsonObject()
                            .put("role", "assistant")
                            .putNull("content")
                            .put("tool_calls", new JsonArray().add(call)))
                    .add(
                        new JsonObject()
                            .put("role", "tool")
                            .put("tool_call_id", "call_abc")
                            .put("content", "12:00")))
            .put("tools", ToolCallingTest.TOOLS)
            .put("max_tokens", 4);
    HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());
    assertEquals(400, r.statusCode(), r.body());
    JsonObject error = new JsonObject(r.body()).getJsonObject("error");
    assertEquals("messages", error.getString("param"));
    assertTrue(error.getString("message").contains("length 9"), r.body());
  }
}
