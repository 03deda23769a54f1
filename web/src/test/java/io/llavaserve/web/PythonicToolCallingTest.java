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
 * Tool calling in Llama 3.2's pythonic format: the answer is a Python list of calls, read into
 * calls with JSON arguments; the calls written back into the prompt as that list.
 */
class PythonicToolCallingTest extends ToolFormatServing {

  @Override
  ToolTemplate template() {
    return ToolTemplate.LLAMA_3_2_PYTHONIC;
  }

  @Override
  String idPattern() {
    return ToolCallsOverHttp.OPENAI_IDS;
  }

  @Override
  void assertRawFormat(String raw) {
    // One call: its name, then keyword arguments whose values are Python literals.
    assertTrue(raw.matches("(?s)\\[\\s*get_(weather|time)\\(\\s*[a-z]+\\s*=.*\\)\\s*]"), raw);
    assertTrue(!raw.contains("true") && !raw.contains("null"), raw);
  }

  @Override
  void assertRoundTripPrompt(String prompt, JsonObject call) {
    JsonObject f = call.getJsonObject("function");
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            "<|start_header_id|>assistant<|end_header_id|>\n\n[" + f.getString("name") + "("),
        prompt);
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            ")]<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n{\"temp\": 3}<|eot_id|>"),
        prompt);
    assertTrue(ToolCallsOverHttp.holds(prompt, "[func_name1(params_name1=params_value1"), prompt);
  }

  @Override
  String toolsInPrompt() {
    return "You have access to the following functions";
  }

  @Test
  void underAutoTextThatIsNotAListOfCallsIsContent() throws Exception {
    JsonObject body = request("auto", 0).put("max_tokens", 6);
    JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
    String content = choice.getJsonObject("message").getString("content");
    assertTrue(content != null && !content.strip().startsWith("["), choice.encode());
    assertNull(choice.getJsonObject("message").getValue("tool_calls"));
    String[] finish = {null};
    StringBuilder streamed = new StringBuilder();
    reassemble(stream(server, body), idPattern(), finish, streamed);
    assertEquals(content, streamed.toString());
    assertEquals(choice.getString("finish_reason"), finish[0]);
  }

  @Test
  void aPropertyThatCannotBeAKeywordIsA400AtItsPathWhenACallIsForced() throws Exception {
    JsonArray tools =
        new JsonArray(
            """
            [{"type":"function","function":{"name":"get_time","parameters":{"type":"object",
               "properties":{"time-zone":{"type":"string"}}}}}]""");
    JsonObject body = request("required", 0).put("tools", tools);
    HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());
    assertEquals(400, r.statusCode(), r.body());
    assertEquals(
        "tools[0].function.parameters.properties.time-zone",
        new JsonObject(r.body()).getJsonObject("error").getString("param"),
        r.body());
    // Under auto nothing is forced, so the tool is offered as it is.
    assertEquals(
        200,
        server
            .post(
                "/v1/chat/completions",
                request("auto", 0).put("tools", tools).put("max_tokens", 2).encode())
            .statusCode());
  }
}
