package io.llavaserve.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The tool-calling chat templates real checkpoints ship (Llama 3.1 Instruct, Mistral 7B Instruct
 * v0.3) render here byte for byte as Jinja2 renders them inside transformers' apply_chat_template:
 * {@code templates/expected.json}, written by {@code templates/make_fixtures.py}.
 */
class ToolTemplatesTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static String template(String file) throws IOException {
    try (InputStream in =
        ToolTemplatesTest.class.getResourceAsStream(
            "/io/llavaserve/engine/checkpoint/templates/" + file)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  static List<ChatMessage> messages(JsonNode array) {
    List<ChatMessage> out = new ArrayList<>();
    for (JsonNode m : array) {
      String role = m.get("role").asText();
      String content = m.path("content").isNull() ? null : m.path("content").asText();
      if (role.equals("tool")) {
        out.add(ChatMessage.toolResult(m.get("tool_call_id").asText(), content));
      } else if (m.has("tool_calls")) {
        List<ToolCall> calls = new ArrayList<>();
        for (JsonNode c : m.get("tool_calls")) {
          calls.add(
              new ToolCall(
                  c.get("id").asText(),
                  c.get("function").get("name").asText(),
                  c.get("function").get("arguments").asText()));
        }
        out.add(ChatMessage.toolCalls(content, calls));
      } else {
        out.add(ChatMessage.text(role, content));
      }
    }
    return out;
  }

  static List<ToolDefinition> tools(JsonNode array) {
    List<ToolDefinition> out = new ArrayList<>();
    for (JsonNode t : array) {
      JsonNode f = t.get("function");
      out.add(
          new ToolDefinition(
              f.get("name").asText(), f.path("description").asText(""), f.get("parameters")));
    }
    return out;
  }

  @Test
  void realToolTemplatesRenderAsTransformersRendersThem() throws IOException {
    JsonNode cases;
    try (InputStream in = getClass().getResourceAsStream("templates/expected.json")) {
      cases = JSON.readTree(in);
    }
    assertTrue(cases.size() >= 9, "the fixture lost cases");
    for (JsonNode c : cases) {
      String what = c.get("template").asText() + ": " + c.get("name").asText();
      ChatTemplate template =
          ChatTemplate.fromJinja(
              template(c.get("template").asText()),
              c.get("bos_token").asText(),
              c.get("eos_token").asText());
      List<ChatMessage> messages = messages(c.get("messages"));
      List<ToolDefinition> tools = tools(c.get("tools"));
      boolean generationPrompt = c.get("add_generation_prompt").asBoolean();
      if (c.has("error")) {
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () -> template.render(messages, tools, generationPrompt),
                what);
        assertTrue(e.getMessage().endsWith(c.get("error").asText()), what + ": " + e);
      } else {
        assertEquals(
            c.get("prompt").asText(), template.render(messages, tools, generationPrompt), what);
      }
    }
  }
}
