package io.llavaserve.engine.sampling.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

class ToolCallGrammarTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static JsonNode schema(String text) throws Exception {
    return JSON.readTree(text);
  }

  private static List<ToolCallGrammar.Function> weatherAndTime() throws Exception {
    return List.of(
        new ToolCallGrammar.Function(
            "get_weather",
            schema(
                "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
                    + "\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\",\"unit\"],"
                    + "\"additionalProperties\":false}"),
            "tools[0].function.parameters"),
        new ToolCallGrammar.Function(
            "get_time",
            schema("{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"),
            "tools[1].function.parameters"));
  }

  @Test
  void oneCallAcceptsExactlyAValidCallOfADeclaredFunction() throws Exception {
    GrammarText g = new GrammarText(ToolCallGrammar.compile(weatherAndTime(), false));
    assertTrue(
        g.accepts(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\","
                + " \"unit\": \"c\"}}\n</tool_call>"));
    assertTrue(g.accepts("<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>"));
    assertTrue(g.accepts(" <tool_call>{\"name\":\"get_time\",\"arguments\":{ }}</tool_call>"));
    // an unknown name, arguments of the other function, a missing required argument
    assertFalse(g.isPrefix("<tool_call>{\"name\":\"get_news\""));
    assertFalse(g.isPrefix("<tool_call>{\"name\":\"get_time\",\"arguments\":{\"city\""));
    assertFalse(
        g.accepts(
            "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"a\"}}</tool_call>"));
    // arguments before the name, text before the call, a second call
    assertFalse(g.isPrefix("<tool_call>{\"arguments\""));
    assertFalse(g.isPrefix("Sure: <tool_call>"));
    String call = "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>";
    assertFalse(g.isPrefix(call + "\n<"));
  }

  @Test
  void manyCallsAcceptOneOrMoreBlocksAndNothingElse() throws Exception {
    GrammarText g = new GrammarText(ToolCallGrammar.compile(weatherAndTime(), true));
    String time = "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>";
    String weather =
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", \"unit\":"
            + " \"f\"}}\n</tool_call>";
    assertTrue(g.accepts(time));
    assertTrue(g.accepts(time + "\n" + weather));
    assertTrue(g.accepts(weather + time + "\n" + time));
    assertFalse(g.accepts(""));
    assertFalse(g.isPrefix(time + " and"));
  }

  @Test
  void aParametersSchemaItCannotHonourIsASchemaExceptionAtItsPath() throws Exception {
    var f =
        new ToolCallGrammar.Function(
            "f",
            schema(
                "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1}}}"),
            "tools[2].function.parameters");
    SchemaException e =
        assertThrows(SchemaException.class, () -> ToolCallGrammar.compile(List.of(f), false));
    assertEquals("tools[2].function.parameters.properties.n.minimum", e.path());
  }

  @Test
  void theKeyTellsFunctionsAndModesApart() throws Exception {
    List<ToolCallGrammar.Function> fs = weatherAndTime();
    assertEquals(ToolCallGrammar.compile(fs, true).key(), ToolCallGrammar.compile(fs, true).key());
    assertNotEquals(
        ToolCallGrammar.compile(fs, true).key(), ToolCallGrammar.compile(fs, false).key());
    assertNotEquals(
        ToolCallGrammar.compile(fs, false).key(),
        ToolCallGrammar.compile(fs.subList(0, 1), false).key());
    GrammarCache cache = new GrammarCache(4);
    assertTrue(cache.toolCalls(fs, true) == cache.toolCalls(fs, true));
  }
}
