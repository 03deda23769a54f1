package io.llavaserve.web;

import static io.llavaserve.web.ToolCallsOverHttp.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.ToolTemplate;
import io.llavaserve.engine.prompt.ToolCallParser;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tool-call parser named by hand ({@code model.tool-call-parser}) over HTTP. */
class ToolCallParserServingTest {

  @TempDir Path dir;

  @Test
  void withToolCallsOffToolChoiceAutoIsA400AndNoneIsServed() throws Exception {
    try (TestServer server = TestServer.on(dir).toolCallParser(ToolCallParser.NONE).start()) {
      JsonObject tools = ToolCallingTest.request("auto", 0, false).put("max_tokens", 2);
      tools.remove("tool_choice");
      for (JsonObject body :
          new JsonObject[] {
            tools,
            tools.copy().put("tool_choice", "auto"),
            tools.copy().put("tool_choice", "required"),
            tools.copy().put("tool_choice", ToolCallingTest.named("get_time"))
          }) {
        HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());
        assertEquals(400, r.statusCode(), r.body());
        JsonObject error = new JsonObject(r.body()).getJsonObject("error");
        assertEquals("tool_choice", error.getString("param"), r.body());
        assertTrue(error.getString("message").contains("model.tool-call-parser=none"), r.body());
      }
      JsonObject choice =
          post(server, tools.copy().put("tool_choice", "none"))
              .getJsonArray("choices")
              .getJsonObject(0);
      assertTrue(choice.getJsonObject("message").getValue("content") instanceof String);
      assertNull(choice.getJsonObject("message").getValue("tool_calls"));
      tools.remove("tools");
      assertEquals(
          "length",
          post(server, tools).getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
    }
  }

  @Test
  void aParserNamedByHandForcesAndReadsCallsInItsFormatWhateverTheTemplate() throws Exception {
    // Llama 3.1's template would be read as llama3_json; pythonic is named instead.
    try (TestServer server =
        TestServer.on(dir)
            .toolTemplate(ToolTemplate.LLAMA_3_1)
            .toolCallParser(ToolCallParser.PYTHONIC)
            .start()) {
      JsonObject body =
          ToolCallingTest.request("required", 0, false)
              .put("parallel_tool_calls", false)
              .put("logprobs", true);
      JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
      ByteArrayOutputStream raw = new ByteArrayOutputStream();
      for (Object t : choice.getJsonObject("logprobs").getJsonArray("content")) {
        for (Object b : ((JsonObject) t).getJsonArray("bytes")) {
          raw.write((Integer) b);
        }
      }
      String text = raw.toString(StandardCharsets.UTF_8).strip();
      assertTrue(text.matches("(?s)\\[\\s*get_(weather|time)\\(.*\\)\\s*]"), text);
      assertEquals("tool_calls", choice.getString("finish_reason"), choice.encode());
      JsonArray calls = choice.getJsonObject("message").getJsonArray("tool_calls");
      assertEquals(1, calls.size(), choice.encode());
      ToolCallsOverHttp.assertValidCall(
          calls.getJsonObject(0), Set.of("get_weather", "get_time"), ToolCallsOverHttp.OPENAI_IDS);
    }
  }
}
