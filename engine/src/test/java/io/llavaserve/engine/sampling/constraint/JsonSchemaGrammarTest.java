package io.llavaserve.engine.sampling.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/** What the compiled grammars of single schema features accept and refuse. */
class JsonSchemaGrammarTest {

  private static GrammarText schema(String json) throws Exception {
    return new GrammarText(JsonSchemaGrammar.compile(RandomJson.JSON.readTree(json), "schema"));
  }

  @Test
  void anObjectWithRequiredPropertiesTakesThemInOrderAndNothingElse() throws Exception {
    GrammarText g =
        schema(
            """
            {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},
             "required":["name","age"],"additionalProperties":false}""");
    assertTrue(g.accepts("{\"name\":\"Ann\",\"age\":31}"));
    assertTrue(g.accepts(" {\n  \"name\": \"Ann\",\n  \"age\": -0\n}"));
    assertFalse(g.accepts("{\"age\":31,\"name\":\"Ann\"}"));
    assertFalse(g.accepts("{\"name\":\"Ann\"}"));
    assertFalse(g.accepts("{\"name\":\"Ann\",\"age\":31,\"x\":1}"));
    assertFalse(g.accepts("{\"name\":\"Ann\",\"age\":3.5}"));
    assertFalse(g.accepts("{\"name\":\"Ann\",\"age\":007}"));
    assertFalse(g.isPrefix("{\"name\":\"Ann\",\"age\":31} "), "nothing after the value");
    assertTrue(g.isPrefix("{\"name\":\"An"));
  }

  @Test
  void optionalPropertiesMayBeLeftOutButKeepTheirOrder() throws Exception {
    GrammarText g =
        schema(
            """
            {"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},
             "c":{"type":"number"}},"required":["b"]}""");
    assertTrue(g.accepts("{\"b\":null}"));
    assertTrue(g.accepts("{\"a\":true,\"b\":null,\"c\":1e5}"));
    assertTrue(g.accepts("{\"b\":null,\"c\":-2.50E-3}"));
    assertFalse(g.accepts("{}"));
    assertFalse(g.accepts("{\"a\":true}"));
    assertFalse(g.accepts("{\"b\":null,\"a\":true}"));
    assertFalse(g.accepts("{,\"b\":null}"));
    assertFalse(g.accepts("{\"b\":null,}"));
  }

  @Test
  void whitespaceIsBoundedBetweenTokens() throws Exception {
    GrammarText g = schema("{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}");
    String eight = " ".repeat(JsonRules.MAX_WHITESPACE);
    assertTrue(g.accepts("[" + eight + "1" + eight + "," + eight + "2" + eight + "]"));
    assertFalse(g.isPrefix("[" + eight + " "));
    assertFalse(g.isPrefix(eight + " ["));
  }

  @Test
  void arraysHonourMinAndMaxItems() throws Exception {
    GrammarText g =
        schema(
            "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,\"maxItems\":2}");
    assertFalse(g.accepts("[]"));
    assertTrue(g.accepts("[\"a\"]"));
    assertTrue(g.accepts("[\"a\", \"b\"]"));
    assertFalse(g.isPrefix("[\"a\",\"b\","));
  }

  @Test
  void stringsAreValidUtf8WithEscapesAndLengthsInCharacters() throws Exception {
    GrammarText g = schema("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}");
    assertTrue(g.accepts("\"é😀\""));
    assertTrue(g.accepts("\"\\u00e9\\n\\\"\""));
    assertFalse(g.accepts("\"a\""));
    assertFalse(g.accepts("\"abcd\""));
    assertFalse(g.isPrefix("\"a\u0001"));
    assertFalse(g.isPrefix("\"\\x"));
    // 0xC0 0x80 is an overlong NUL; 0xED 0xA0 starts a surrogate: neither is UTF-8.
    assertEquals(1, g.viablePrefix(new byte[] {'"', (byte) 0xC0, (byte) 0x80}));
    assertEquals(2, g.viablePrefix(new byte[] {'"', (byte) 0xED, (byte) 0xA0}));
    assertEquals(3, g.viablePrefix(new byte[] {'"', (byte) 0xED, (byte) 0x9F, (byte) 0xBF}) - 1);
  }

  @Test
  void enumsConstsAndTypeListsAreAlternatives() throws Exception {
    GrammarText e = schema("{\"enum\":[\"red\",\"green\",7,null,{\"k\":[1]}]}");
    assertTrue(e.accepts("\"red\""));
    assertTrue(e.accepts("7"));
    assertTrue(e.accepts("null"));
    assertTrue(e.accepts("{\"k\":[1]}"));
    assertFalse(e.accepts("\"blue\""));
    assertTrue(schema("{\"const\":\"x\"}").accepts("\"x\""));
    GrammarText n = schema("{\"type\":[\"string\",\"null\"]}");
    assertTrue(n.accepts("null"));
    assertTrue(n.accepts("\"s\""));
    assertFalse(n.accepts("1"));
  }

  @Test
  void anyOfAndRecursiveRefsCompose() throws Exception {
    GrammarText g =
        schema(
            """
            {"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
               "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
               "required":["v","kids"],"additionalProperties":false}},
             "anyOf":[{"$ref":"#/$defs/node"},{"type":"boolean"}]}""");
    assertTrue(g.accepts("{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3,\"kids\":[]}]}"));
    assertTrue(g.accepts("false"));
    assertFalse(g.accepts("{\"v\":1,\"kids\":[{\"v\":2}]}"));
  }

  @Test
  void formatsAreShapedStrings() throws Exception {
    assertTrue(schema("{\"type\":\"string\",\"format\":\"date\"}").accepts("\"2024-02-29\""));
    assertFalse(schema("{\"type\":\"string\",\"format\":\"date\"}").accepts("\"2024-13-01\""));
    assertTrue(
        schema("{\"type\":\"string\",\"format\":\"date-time\"}")
            .accepts("\"2024-02-29T23:59:01.5+01:00\""));
    assertTrue(
        schema("{\"type\":\"string\",\"format\":\"uuid\"}")
            .accepts("\"123e4567-e89b-12d3-a456-426614174000\""));
  }

  @Test
  void jsonObjectTakesAnyObjectButNoOtherValue() {
    GrammarText g = new GrammarText(JsonSchemaGrammar.anyObject());
    assertTrue(g.accepts("{}"));
    assertTrue(g.accepts("{\"a\": [1, -2.5e3, \"x\", true, false, null, {\"b\": {}}]}"));
    assertFalse(g.accepts("[1]"));
    assertFalse(g.accepts("\"s\""));
    assertFalse(g.accepts("{\"a\":1"));
  }

  @Test
  void unsupportedKeywordsAreRefusedByPath() throws Exception {
    JsonNode s =
        RandomJson.JSON.readTree(
            "{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\",\"minimum\":0}}}");
    SchemaException e =
        assertThrows(SchemaException.class, () -> JsonSchemaGrammar.compile(s, "schema"));
    assertEquals("schema.properties.age.minimum", e.path());
    assertThrows(
        SchemaException.class,
        () -> JsonSchemaGrammar.compile(RandomJson.JSON.readTree("{\"$ref\":\"#/$defs/x\"}"), "s"));
    assertThrows(
        SchemaException.class,
        () -> JsonSchemaGrammar.compile(RandomJson.JSON.readTree("{\"type\":\"tuple\"}"), "s"));
    assertThrows(
        SchemaException.class,
        () ->
            JsonSchemaGrammar.compile(
                RandomJson.JSON.readTree(
                    "{\"type\":\"object\",\"properties\":{},\"required\":[\"a\"]}"),
                "s"));
    SchemaException cycle =
        assertThrows(
            SchemaException.class,
            () ->
                JsonSchemaGrammar.compile(
                    RandomJson.JSON.readTree(
                        "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
                            + "\"$ref\":\"#/$defs/a\"}"),
                    "s"));
    assertTrue(cycle.getMessage().contains("left-recursive"), cycle.getMessage());
  }

  @Test
  void equalSchemasShareAKeyAndTheCacheCompilesOnce() throws Exception {
    JsonNode a = RandomJson.JSON.readTree("{\"type\":\"string\"}");
    JsonNode b = RandomJson.JSON.readTree("{\"type\":\"integer\"}");
    GrammarCache cache = new GrammarCache(4);
    Grammar first = cache.schema(a, "s");
    assertTrue(first == cache.schema(RandomJson.JSON.readTree("{\"type\":\"string\"}"), "s"));
    assertNotEquals(first.key(), cache.schema(b, "s").key());
  }
}
