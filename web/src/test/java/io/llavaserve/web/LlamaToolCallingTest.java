package io.llavaserve.web;

import static io.llavaserve.web.ToolCallsOverHttp.assertValidCall;
import static io.llavaserve.web.ToolCallsOverHttp.post;
import static io.llavaserve.web.ToolCallsOverHttp.reassemble;
import static io.llavaserve.web.ToolCallsOverHttp.stream;
import static io.llavaserve.web.ToolCallsOverHttp.withoutIds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.ToolTemplate;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Tool calling through Llama 3.1 Instruct's own template, in Llama's JSON format. */
class LlamaToolCallingTest extends ToolFormatServing {

  @Override
  ToolTemplate template() {
    return ToolTemplate.LLAMA_3_1;
  }

  @Override
  String idPattern() {
    return ToolCallsOverHttp.OPENAI_IDS;
  }

  @Override
  void assertRawFormat(String raw) {
    assertTrue(
        raw.matches(
            "(?s)\\{\\s*\"name\"\\s*:\\s*\"get_(weather|time)\"\\s*,\\s*\"parameters\"\\s*:.*\\}"),
        raw);
    JsonObject call = new JsonObject(raw);
    assertEquals(Set.of("name", "parameters"), call.fieldNames(), raw);
  }

  @Override
  void assertRoundTripPrompt(String prompt, JsonObject call) {
    JsonObject f = call.getJsonObject("function");
    String written =
        "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \""
            + f.getString("name")
            + "\", \"parameters\": ";
    assertTrue(ToolCallsOverHttp.holds(prompt, written), prompt);
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            "<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n"
                + "\"{\\\"temp\\\": 3}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        prompt);
    assertTrue(
        ToolCallsOverHttp.holds(prompt, "\"name\": \"get_weather\",\n        \"description\""),
        prompt);
  }

  @Override
  String toolsInPrompt() {
    return "Environment: ipython";
  }

  /** The schema of a call of get_weather as Llama writes it. */
  static JsonObject callSchema() {
    JsonObject weather =
        ToolCallingTest.TOOLS
            .getJsonObject(0)
            .getJsonObject("function")
            .getJsonObject("parameters");
    return new JsonObject()
        .put("type", "object")
        .put(
            "properties",
            new JsonObject()
                .put("name", new JsonObject().put("const", "get_weather"))
                .put("parameters", weather))
        .put("required", new JsonArray().add("name").add("parameters"))
        .put("additionalProperties", false);
  }

  @Test
  void autoReadsACallTheModelWritesAsJsonPlainAndStreamed() throws Exception {
    // response_format holds the random model to a call's JSON; tool_choice auto reads it.
    JsonObject body =
        request("auto", 0)
            .put(
                "response_format",
                new JsonObject()
                    .put("type", "json_schema")
                    .put(
                        "json_schema",
                        new JsonObject().put("name", "call").put("schema", callSchema())));
    JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
    JsonObject message = choice.getJsonObject("message");
    assertNull(message.getValue("content"), choice.encode());
    JsonArray calls = message.getJsonArray("tool_calls");
    assertEquals(1, calls.size(), choice.encode());
    assertValidCall(calls.getJsonObject(0), Set.of("get_weather"), idPattern());
    assertEquals("tool_calls", choice.getString("finish_reason"));

    String[] finish = {null};
    StringBuilder content = new StringBuilder();
    JsonArray streamed = reassemble(stream(server, body), idPattern(), finish, content);
    assertEquals(withoutIds(calls), withoutIds(streamed));
    assertEquals("", content.toString());
    assertEquals("tool_calls", finish[0]);
  }

  @Test
  void twoCallsInOneAssistantMessageAreRefusedByTheTemplate() throws Exception {
    JsonObject call =
        new JsonObject()
            .put("id", "call_1")
            .put("type", "function")
            .put(
                "function",
                new JsonObject().put("name", "get_time").put("arguments", "{\"tz\": \"utc\"}"));
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
                            .put(
                                "tool_calls",
                                new JsonArray().add(call).add(call.copy().put("id", "call_2")))))
            .put("tools", ToolCallingTest.TOOLS)
            .put("max_tokens", 4);
    HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());
    assertEquals(400, r.statusCode(), r.body());
    JsonObject error = new JsonObject(r.body()).getJsonObject("error");
    assertEquals("messages", error.getString("param"));
    assertTrue(error.getString("message").contains("only supports single tool-calls"), r.body());
  }
}
