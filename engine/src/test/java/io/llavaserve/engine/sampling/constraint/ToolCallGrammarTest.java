package io.llavaserve.engine.sampling.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.prompt.ToolCallFormat;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
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
  void llamaJsonAcceptsExactlyCallsWithParametersSeparatedBySemicolons() throws Exception {
    GrammarText one =
        new GrammarText(
            ToolCallGrammar.compile(ToolCallFormat.LLAMA3_JSON, weatherAndTime(), false));
    String weather =
        "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"unit\": \"c\"}}";
    String time = "{\"name\":\"get_time\",\"parameters\":{}}";
    assertTrue(one.accepts(weather));
    assertTrue(one.accepts("\n" + time));
    assertFalse(one.isPrefix("{\"name\": \"get_weather\", \"arguments\""));
    assertFalse(one.isPrefix("<tool_call>"));
    assertFalse(one.isPrefix("{\"parameters\""));
    assertFalse(one.isPrefix(time + ";"));
    assertFalse(one.accepts("{\"name\":\"get_weather\",\"parameters\":{\"city\":\"a\"}}"));

    GrammarText many =
        new GrammarText(
            ToolCallGrammar.compile(ToolCallFormat.LLAMA3_JSON, weatherAndTime(), true));
    assertTrue(many.accepts(time));
    assertTrue(many.accepts(weather + "; " + time));
    assertTrue(many.accepts(time + ";" + time + " ;\n" + weather));
    assertFalse(many.accepts(time + ";"));
    assertFalse(many.isPrefix(time + " " + time));
    assertFalse(many.isPrefix(time + ", " + time));
  }

  @Test
  void mistralAcceptsExactlyTheMarkerAndAnArrayOfCalls() throws Exception {
    GrammarText one =
        new GrammarText(ToolCallGrammar.compile(ToolCallFormat.MISTRAL, weatherAndTime(), false));
    String weather =
        "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"f\"}}";
    String time = "{\"name\":\"get_time\",\"arguments\":{}}";
    assertTrue(one.accepts("[TOOL_CALLS] [" + weather + "]"));
    assertTrue(one.accepts("[TOOL_CALLS][" + time + "]"));
    assertFalse(one.isPrefix("[" + time));
    assertFalse(one.isPrefix("[TOOL_CALLS] " + time));
    assertFalse(one.isPrefix("[TOOL_CALLS][]"));
    assertFalse(one.isPrefix("[TOOL_CALLS][" + time + ","));
    assertFalse(one.isPrefix("[TOOL_CALLS][{\"name\":\"get_time\",\"parameters\""));
    assertFalse(one.accepts("[TOOL_CALLS][" + time));

    GrammarText many =
        new GrammarText(ToolCallGrammar.compile(ToolCallFormat.MISTRAL, weatherAndTime(), true));
    assertTrue(many.accepts("[TOOL_CALLS] [" + weather + ", " + time + "]"));
    assertTrue(many.accepts("[TOOL_CALLS][" + time + "," + time + "," + weather + " ]"));
    assertFalse(many.isPrefix("[TOOL_CALLS][" + time + "][TOOL_CALLS]"));
    assertFalse(many.isPrefix("[TOOL_CALLS][" + time + "," + "]"));
  }

  @Test
  void mistralsMarkerMayBeItsSpecialTokenWhereItsTextMayCome() throws Exception {
    // id 0 EOS, 1 the special [TOOL_CALLS] (no text of its own), then pieces and single bytes
    List<byte[]> vocab = new java.util.ArrayList<>();
    vocab.add(null);
    vocab.add(null);
    for (String piece : new String[] {"[", "TOOL", "_CALLS", "]", " [", "{\"", "name"}) {
      vocab.add(piece.getBytes(StandardCharsets.UTF_8));
    }
    for (int b = 0; b < 256; b++) {
      vocab.add(new byte[] {(byte) b});
    }
    TokenTrie trie = TokenTrie.of(vocab.toArray(new byte[0][]));
    Grammar g = ToolCallGrammar.compile(ToolCallFormat.MISTRAL, weatherAndTime(), true);
    assertEquals(List.of("[TOOL_CALLS]"), g.specialTokens());
    TokenMasks masks =
        new TokenMasks(
            new GrammarAutomaton(g),
            trie,
            0,
            java.util.Map.of(1, "[TOOL_CALLS]".getBytes(StandardCharsets.UTF_8)));
    GrammarMatcher m = new GrammarMatcher(masks);
    assertTrue(m.allowed().allows(1));
    assertTrue(m.allowed().allows(2)); // "[" may start the marker's text too
    m.accept(1);
    assertFalse(m.allowed().allows(1));
    assertTrue(m.allowed().allows(6)); // " ["
    m.accept(6);
    assertFalse(m.allowed().allows(1));
    // Without the grammar naming it, a special token is never allowed.
    TokenMasks plain =
        new TokenMasks(
            new GrammarAutomaton(
                ToolCallGrammar.compile(ToolCallFormat.MISTRAL, weatherAndTime(), true)),
            trie,
            0);
    assertFalse(new GrammarMatcher(plain).allowed().allows(1));
  }

  @Test
  void mistralV11AcceptsExactlyTheNameAndArgumentsAfterEachMarker() throws Exception {
    GrammarText one =
        new GrammarText(
            ToolCallGrammar.compile(ToolCallFormat.MISTRAL_V11, weatherAndTime(), false));
    String weather = "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\", \"unit\": \"f\"}";
    String time = "[TOOL_CALLS]get_time[ARGS]{}";
    assertTrue(one.accepts(weather));
    assertTrue(one.accepts(" " + time));
    assertFalse(one.isPrefix("[TOOL_CALLS] get_time"));
    assertFalse(one.isPrefix("[TOOL_CALLS]get_time [ARGS]"));
    assertFalse(one.isPrefix("[TOOL_CALLS]get_time[ARGS] {"));
    assertFalse(one.isPrefix("[TOOL_CALLS]get_news"));
    assertFalse(one.isPrefix("[TOOL_CALLS][{"));
    assertFalse(one.isPrefix(time + "[TOOL_CALLS]"));
    assertFalse(one.accepts("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}"));

    Grammar g = ToolCallGrammar.compile(ToolCallFormat.MISTRAL_V11, weatherAndTime(), true);
    assertEquals(List.of("[TOOL_CALLS]", "[ARGS]"), g.specialTokens());
    GrammarText many = new GrammarText(g);
    assertTrue(many.accepts(time + weather + time));
    assertTrue(many.accepts(weather + "\n" + time));
    assertFalse(many.isPrefix(time + ", "));
    assertFalse(many.isPrefix(time + "[ARGS]"));
  }

  @Test
  void pythonicAcceptsAListOfCallsWithKeywordArgumentsInPythonLiterals() throws Exception {
    List<ToolCallGrammar.Function> fs =
        List.of(
            new ToolCallGrammar.Function(
                "search",
                schema(
                    "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"},"
                        + "\"exact\":{\"type\":\"boolean\"},\"limit\":{\"type\":[\"integer\","
                        + "\"null\"]},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\","
                        + "true,null]}},\"filter\":{\"type\":\"object\"}},\"required\":[\"q\"]}"),
                "tools[0].function.parameters"),
            weatherAndTime().get(1));
    GrammarText one = new GrammarText(ToolCallGrammar.compile(ToolCallFormat.PYTHONIC, fs, false));
    assertTrue(one.accepts("[search(q=\"cats\")]"));
    assertTrue(
        one.accepts(
            "[search(q = \"a \\\"b\\\" \\u00e9\", exact=True, limit=None, tags=[\"a\", True,"
                + " None], filter={\"k\": [1, 2.5e3, False]})]"));
    assertTrue(one.accepts(" [ get_time( ) ]"));
    assertTrue(one.accepts("[search(q=\"x\", limit=-3)]"));
    assertFalse(one.isPrefix("[search(q=\"x\", exact=true"));
    assertFalse(one.isPrefix("[search(q=\"x\", limit=null"));
    assertFalse(one.isPrefix("[search(q='x'"));
    assertFalse(one.isPrefix("[search(q=\"\\/"));
    assertFalse(one.isPrefix("[search(\"x\""));
    assertFalse(one.isPrefix("[search (q"));
    assertFalse(one.isPrefix("[get_news("));
    assertFalse(one.isPrefix("search(q=\"x\")"));
    assertFalse(one.accepts("[search(exact=True)]"));
    assertFalse(one.isPrefix("[get_time(), "));
    assertFalse(one.isPrefix("[search(q=\"x\", q="));

    GrammarText many = new GrammarText(ToolCallGrammar.compile(ToolCallFormat.PYTHONIC, fs, true));
    assertTrue(many.accepts("[get_time(), search(q=\"x\"),get_time()]"));
    assertFalse(many.isPrefix("[get_time()][get_time()]"));
    assertFalse(many.isPrefix("[get_time(), ]"));
  }

  @Test
  void aPythonicCallNeedsIdentifiersForItsNameAndKeywords() throws Exception {
    JsonNode dashed =
        schema("{\"type\":\"object\",\"properties\":{\"max-len\":{\"type\":\"integer\"}}}");
    SchemaException e =
        assertThrows(
            SchemaException.class,
            () ->
                ToolCallGrammar.compile(
                    ToolCallFormat.PYTHONIC,
                    List.of(
                        new ToolCallGrammar.Function("f", dashed, "tools[1].function.parameters")),
                    false));
    assertEquals("tools[1].function.parameters.properties.max-len", e.path());
    SchemaException name =
        assertThrows(
            SchemaException.class,
            () ->
                ToolCallGrammar.compile(
                    ToolCallFormat.PYTHONIC,
                    List.of(
                        new ToolCallGrammar.Function(
                            "get-time",
                            schema("{\"type\":\"object\"}"),
                            "tools[0].function.parameters")),
                    false));
    assertEquals("tools[0].function.name", name.path());
    SchemaException notObject =
        assertThrows(
            SchemaException.class,
            () ->
                ToolCallGrammar.compile(
                    ToolCallFormat.PYTHONIC,
                    List.of(
                        new ToolCallGrammar.Function(
                            "f", schema("{\"type\":\"string\"}"), "tools[0].function.parameters")),
                    false));
    assertEquals("tools[0].function.parameters.type", notObject.path());
    SchemaException none =
        assertThrows(
            SchemaException.class,
            () ->
                ToolCallGrammar.compile(
                    ToolCallFormat.PYTHONIC,
                    List.of(
                        new ToolCallGrammar.Function(
                            "f", JSON.readTree("false"), "tools[0].function.parameters")),
                    false));
    assertEquals("tools[0].function.parameters", none.path());
    assertTrue(none.getMessage().contains("admits no value"), none.getMessage());
    // Without properties, any identifiers; the same dashed name is fine in the JSON formats.
    GrammarText any =
        new GrammarText(
            ToolCallGrammar.compile(
                ToolCallFormat.PYTHONIC,
                List.of(new ToolCallGrammar.Function("f", schema("{}"), "p")),
                true));
    assertTrue(any.accepts("[f(a_1=1, _b={\"x\": None}), f()]"));
    assertFalse(any.isPrefix("[f(1a"));
    ToolCallGrammar.compile(
        ToolCallFormat.MISTRAL_V11, List.of(new ToolCallGrammar.Function("f", dashed, "p")), true);
  }

  @Test
  void randomCallsInEachFormatAreAcceptedAndEveryAcceptedMutationIsAValidCall() throws Exception {
    SplittableRandom rnd = new SplittableRandom(23);
    int accepted = 0;
    int refused = 0;
    String alphabet = "{}[]\",:;0123456789-. \nxa()=";
    for (ToolCallFormat format : ToolCallFormat.values()) {
      if (format == ToolCallFormat.NONE) {
        assertThrows(
            IllegalArgumentException.class,
            () -> ToolCallGrammar.compile(ToolCallFormat.NONE, weatherAndTime(), true));
        continue;
      }
      for (int i = 0; i < 60; i++) {
        RandomJson gen = new RandomJson(rnd.split());
        JsonNode inner = gen.schema(2);
        JsonNode schema =
            JSON.createObjectNode()
                .put("type", "object")
                .<com.fasterxml.jackson.databind.node.ObjectNode>set(
                    "properties", JSON.createObjectNode().set("a", inner))
                .<com.fasterxml.jackson.databind.node.ObjectNode>set(
                    "required", JSON.createArrayNode().add("a"))
                .put("additionalProperties", false);
        for (String defs : List.of("$defs", "definitions")) {
          if (inner.has(defs)) { // its $refs point from the root
            ((com.fasterxml.jackson.databind.node.ObjectNode) schema).set(defs, inner.get(defs));
          }
        }
        List<ToolCallGrammar.Function> fs =
            List.of(new ToolCallGrammar.Function("f_" + i, schema, "tools[0].function.parameters"));
        GrammarText g = new GrammarText(ToolCallGrammar.compile(format, fs, true));
        List<String> calls = new java.util.ArrayList<>();
        for (int k = 0, n = 1 + rnd.nextInt(3); k < n; k++) {
          calls.add(gen.instance(schema, schema));
        }
        String text = CallText.write(format, "f_" + i, calls, rnd);
        assertTrue(g.accepts(text), format + ": refused at " + g.viablePrefix(text) + ": " + text);
        assertEquals(calls.size(), CallText.read(format, text, "f_" + i, schema), text);
        for (int m = 0; m < 6; m++) {
          StringBuilder mutated = new StringBuilder(text);
          int at = rnd.nextInt(mutated.length());
          char c = alphabet.charAt(rnd.nextInt(alphabet.length()));
          switch (rnd.nextInt(3)) {
            case 0 -> mutated.deleteCharAt(at);
            case 1 -> mutated.insert(at, c);
            default -> mutated.setCharAt(at, c);
          }
          if (g.accepts(mutated.toString())) {
            accepted++;
            assertTrue(
                CallText.read(format, mutated.toString(), "f_" + i, schema) >= 1,
                format + " accepted " + mutated);
          } else {
            refused++;
          }
        }
      }
    }
    assertTrue(refused > accepted, "refused " + refused + ", accepted " + accepted);
    assertTrue(accepted > 0, "no mutation stayed valid, so the check above never ran");
  }

  @Test
  void theKeyTellsFunctionsAndModesApart() throws Exception {
    List<ToolCallGrammar.Function> fs = weatherAndTime();
    assertNotEquals(
        ToolCallGrammar.compile(ToolCallFormat.HERMES, fs, true).key(),
        ToolCallGrammar.compile(ToolCallFormat.MISTRAL, fs, true).key());
    assertNotEquals(
        ToolCallGrammar.compile(ToolCallFormat.LLAMA3_JSON, fs, true).key(),
        ToolCallGrammar.compile(ToolCallFormat.MISTRAL, fs, true).key());
    GrammarCache formats = new GrammarCache(4);
    assertTrue(
        formats.toolCalls(ToolCallFormat.MISTRAL, fs, true)
            != formats.toolCalls(ToolCallFormat.LLAMA3_JSON, fs, true));
    assertEquals(ToolCallGrammar.compile(fs, true).key(), ToolCallGrammar.compile(fs, true).key());
    assertNotEquals(
        ToolCallGrammar.compile(fs, true).key(), ToolCallGrammar.compile(fs, false).key());
    assertNotEquals(
        ToolCallGrammar.compile(fs, false).key(),
        ToolCallGrammar.compile(fs.subList(0, 1), false).key());
    assertNotEquals(
        ToolCallGrammar.compile(ToolCallFormat.MISTRAL, fs, true).key(),
        ToolCallGrammar.compile(ToolCallFormat.MISTRAL_V11, fs, true).key());
    assertTrue(
        formats.toolCalls(ToolCallFormat.MISTRAL, fs, true)
            != formats.toolCalls(ToolCallFormat.MISTRAL_V11, fs, true));
    GrammarCache cache = new GrammarCache(4);
    assertTrue(cache.toolCalls(fs, true) == cache.toolCalls(fs, true));
  }
}
