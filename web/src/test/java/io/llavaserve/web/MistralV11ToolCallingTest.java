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
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Tool calling in the format of Mistral's v11 tokenizers: [TOOL_CALLS]name[ARGS]{...} for each
 * call, [ARGS] a special token of the tokenizer, 9-character ids.
 */
class MistralV11ToolCallingTest extends ToolFormatServing {

  private static final Pattern CALL =
      Pattern.compile("(?s)\\[TOOL_CALLS\\](get_weather|get_time)\\[ARGS\\](\\{.*\\})");

  @Override
  ToolTemplate template() {
    return ToolTemplate.MISTRAL_V11;
  }

  @Override
  String idPattern() {
    return ToolCallsOverHttp.MISTRAL_IDS;
  }

  @Override
  void assertRawFormat(String raw) {
    Matcher m = CALL.matcher(raw);
    assertTrue(m.matches(), raw);
    new JsonObject(m.group(2)); // the arguments are one JSON object
  }

  @Override
  void assertRoundTripPrompt(String prompt, JsonObject call) {
    JsonObject f = call.getJsonObject("function");
    assertTrue(
        ToolCallsOverHttp.holds(prompt, "[/INST][TOOL_CALLS]" + f.getString("name") + "[ARGS]{"),
        prompt);
    assertTrue(
        ToolCallsOverHttp.holds(prompt, "</s>[TOOL_RESULTS]{\"temp\": 3}[/TOOL_RESULTS]"), prompt);
    assertTrue(
        ToolCallsOverHttp.holds(
            prompt,
            "[AVAILABLE_TOOLS][{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""),
        prompt);
  }

  @Override
  String toolsInPrompt() {
    return "[AVAILABLE_TOOLS]";
  }

  @Test
  void aForcedAnswerMayWriteBothMarkersAsTheirSpecialTokens() throws Exception {
    int calls = tokenId("[TOOL_CALLS]");
    int args = tokenId("[ARGS]");
    JsonObject body =
        request("required", 0)
            .put("parallel_tool_calls", false)
            .put("logprobs", true)
            .put(
                "logit_bias",
                new JsonObject().put(String.valueOf(calls), 100).put(String.valueOf(args), 100));
    JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
    JsonArray tokens = choice.getJsonObject("logprobs").getJsonArray("content");
    List<String> texts = tokens.stream().map(t -> ((JsonObject) t).getString("token")).toList();
    assertEquals("[TOOL_CALLS]", texts.get(0), choice.encode());
    assertTrue(texts.contains("[ARGS]"), choice.encode());
    assertEquals("tool_calls", choice.getString("finish_reason"), choice.encode());
    ToolCallsOverHttp.assertValidCall(
        choice.getJsonObject("message").getJsonArray("tool_calls").getJsonObject(0),
        Set.of("get_weather", "get_time"),
        idPattern());
  }

  @Test
  void underAutoTheMarkersReachTheParserAndAloneStayContent() throws Exception {
    for (String marker : List.of("[TOOL_CALLS]", "[ARGS]")) {
      JsonObject body =
          request("auto", 0)
              .put("max_tokens", 1)
              .put("logit_bias", new JsonObject().put(String.valueOf(tokenId(marker)), 100));
      JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
      assertEquals(marker, choice.getJsonObject("message").getString("content"), choice.encode());
      assertNull(choice.getJsonObject("message").getValue("tool_calls"));
      String[] finish = {null};
      StringBuilder content = new StringBuilder();
      reassemble(stream(server, body), idPattern(), finish, content);
      assertEquals(marker, content.toString());
      assertEquals("length", finish[0]);
    }
  }

  int tokenId(String marker) throws Exception {
    HttpResponse<String> t =
        server.post(
            "/tokenize",
            new JsonObject().put("prompt", marker).put("add_special_tokens", false).encode());
    JsonArray ids = new JsonObject(t.body()).getJsonArray("tokens");
    assertEquals(1, ids.size(), t.body());
    return ids.getInteger(0);
  }
}
