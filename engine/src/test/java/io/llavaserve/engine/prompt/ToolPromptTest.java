package io.llavaserve.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ToolPromptTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  static final ToolDefinition WEATHER;

  static {
    try {
      WEATHER =
          new ToolDefinition(
              "get_weather",
              "Current weather in a city",
              JSON.readTree(
                  "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                      + "\"required\":[\"city\"]}"));
    } catch (Exception e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  static final List<ChatMessage> ROUND_TRIP =
      List.of(
          ChatMessage.text("user", "Weather in Oslo?"),
          ChatMessage.toolCalls(
              null, List.of(new ToolCall("call_1", "get_weather", "{\"city\": \"Oslo\"}"))),
          ChatMessage.toolResult("call_1", "{\"temp\": 3}"));

  @Test
  void theDefaultFormatListsToolsInASystemPreambleAndWritesCallsAndResultsAsBlocks() {
    String prompt = ChatTemplate.vicunaV1().render(ROUND_TRIP, List.of(WEATHER), true);
    String tool =
        "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\":"
            + " \"Current weather in a city\", \"parameters\": {\"type\": \"object\","
            + " \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}";
    assertEquals(
        ToolPrompt.preamble(List.of(WEATHER))
            + " USER: Weather in Oslo? ASSISTANT: <tool_call>\n"
            + "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n"
            + "</tool_call></s>USER: <tool_response>\n{\"temp\": 3}\n</tool_response> ASSISTANT:",
        prompt);
    assertTrue(ToolPrompt.preamble(List.of(WEATHER)).contains("<tools>\n" + tool + "\n</tools>"));
  }

  @Test
  void thePreambleFollowsTheConversationsOwnSystemMessageAndResultsShareAUserTurn() {
    List<ChatMessage> inlined =
        ToolPrompt.inline(
            List.of(
                ChatMessage.text("system", "Be brief."),
                ChatMessage.toolCalls(
                    "Looking.",
                    List.of(
                        new ToolCall("a", "get_weather", "{}"),
                        new ToolCall("b", "get_weather", "{}"))),
                ChatMessage.toolResult("a", "1"),
                ChatMessage.toolResult("b", "2")),
            List.of(WEATHER));
    assertEquals(3, inlined.size());
    assertEquals(
        "Be brief.\n\n" + ToolPrompt.preamble(List.of(WEATHER)), inlined.get(0).joinedText());
    assertTrue(inlined.get(1).joinedText().startsWith("Looking.\n<tool_call>"));
    assertEquals(
        "<tool_response>\n1\n</tool_response>\n<tool_response>\n2\n</tool_response>",
        inlined.get(2).joinedText());
    assertEquals("user", inlined.get(2).role());
  }

  /** A template in the style of Qwen2.5's: it reads tools, tool_calls and tool messages itself. */
  static final String TOOLS_TEMPLATE =
      "{%- if tools %}<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools>\n"
          + "{%- endif %}"
          + "{%- for message in messages %}"
          + "{%- if message.role == 'tool' %}[result {{ message.tool_call_id }}: "
          + "{{ message.content }}]"
          + "{%- elif message.tool_calls %}[calls:{% for c in message.tool_calls %} "
          + "{{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}]"
          + "{%- else %}[{{ message.role }}: {{ message.content }}]{% endif %}"
          + "{%- endfor %}";

  @Test
  void aJinjaTemplateThatReadsToolsGetsThemAndTheCallsAsTransformersPassesThem() {
    ChatTemplate t = ChatTemplate.fromJinja(TOOLS_TEMPLATE, "<s>", "</s>");
    assertTrue(t.knowsTools());
    assertEquals(
        // trim_blocks eats the newline after a tag, as in transformers.
        "<tools>"
            + PythonJson.dumps(ToolPrompt.asOpenAiTool(WEATHER))
            + "</tools>[user: Weather in Oslo?][calls: get_weather {\"city\": \"Oslo\"}]"
            + "[result call_1: {\"temp\": 3}]",
        t.render(ROUND_TRIP, List.of(WEATHER), true));
  }

  @Test
  void aJinjaTemplateWithoutToolsRendersTheDefaultFormat() {
    ChatTemplate t = ChatTemplate.fromJinja(ChatTemplate.VICUNA_V1_JINJA, "<s>", "</s>");
    assertFalse(t.knowsTools());
    assertEquals(
        ChatTemplate.vicunaV1().render(ROUND_TRIP, List.of(WEATHER), true),
        t.render(ROUND_TRIP, List.of(WEATHER), true));
  }

  @Test
  void tojsonWritesAsPythonsJsonDumps() {
    Map<String, Object> value = new java.util.LinkedHashMap<>();
    value.put("a", java.util.Arrays.asList(1, 2.5, true, null));
    value.put("b", "é\n\"");
    assertEquals("{\"a\": [1, 2.5, true, null], \"b\": \"é\\n\\\"\"}", PythonJson.dumps(value));
  }

  @Test
  void toolRolesAreChecked() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new ChatMessage("tool", List.of(ContentPart.text("x")), List.of(), null));
    assertThrows(
        IllegalArgumentException.class,
        () -> new ChatMessage("user", List.of(), List.of(new ToolCall("a", "f", "{}")), null));
  }
}
