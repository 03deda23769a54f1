package io.llavaserve.engine.sampling.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.generate.GenerationResult;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SamplingParams;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Constrained decoding on the tiny random model: for a table of schemas, greedy and sampled, the
 * output parses and validates (checked by {@link SchemaCheck}, not by the grammar). Every schema
 * here bounds its strings, numbers and arrays, so a random model must finish within max_tokens and
 * the only acceptable finish is {@code stop}.
 */
class StructuredGenerationTest {

  private static final int MAX_TOKENS = 400;
  private static final String S = "{\"type\":\"string\",\"maxLength\":6}";

  /** 32 schemas: scalars, enums, nested objects, arrays, anyOf, $defs/$ref, type lists. */
  static final List<String> SCHEMAS =
      List.of(
          S,
          "{\"type\":\"integer\"}",
          "{\"type\":\"number\"}",
          "{\"type\":\"boolean\"}",
          "{\"type\":\"null\"}",
          "{\"enum\":[\"red\",\"green\",\"blue\"]}",
          "{\"const\":\"exactly this\"}",
          "{\"type\":[\"integer\",\"null\"]}",
          "{\"type\":\"string\",\"format\":\"date\"}",
          "{\"type\":\"string\",\"format\":\"uuid\"}",
          "{\"type\":\"string\",\"format\":\"date-time\"}",
          "{\"type\":\"string\",\"minLength\":3,\"maxLength\":3}",
          obj("\"name\":" + S + ",\"age\":{\"type\":\"integer\"}", "\"name\",\"age\""),
          obj("\"ok\":{\"type\":\"boolean\"},\"note\":" + S, "\"ok\""),
          obj(
              "\"a\":{\"type\":\"number\"},\"b\":{\"type\":\"number\"},\"c\":{\"type\":\"number\"}",
              ""),
          obj(
              "\"color\":{\"enum\":[\"red\",\"green\"]},\"size\":{\"enum\":[1,2,3]}",
              "\"color\",\"size\""),
          obj(
              "\"inner\":"
                  + obj("\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"}", "\"x\",\"y\""),
              "\"inner\""),
          obj("\"l1\":" + obj("\"l2\":" + obj("\"l3\":" + S, "\"l3\""), "\"l2\""), "\"l1\""),
          "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"maxItems\":4}",
          "{\"type\":\"array\",\"items\":" + S + ",\"minItems\":2,\"maxItems\":3}",
          "{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":1,\"maxItems\":1}",
          obj(
              "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"maxItems\":3}",
              "\"tags\""),
          "{\"type\":\"array\",\"items\":"
              + obj("\"id\":{\"type\":\"integer\"}", "\"id\"")
              + ",\"maxItems\":3}",
          "{\"anyOf\":[{\"type\":\"integer\"}," + S + "]}",
          "{\"anyOf\":["
              + obj("\"kind\":{\"const\":\"circle\"},\"r\":{\"type\":\"number\"}", "\"kind\",\"r\"")
              + ","
              + obj(
                  "\"kind\":{\"const\":\"square\"},\"side\":{\"type\":\"number\"}",
                  "\"kind\",\"side\"")
              + "]}",
          obj("\"v\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"boolean\"}]}", "\"v\""),
          "{\"$defs\":{\"point\":"
              + obj("\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"}", "\"x\",\"y\"")
              + "},"
              + "\"type\":\"object\",\"properties\":{\"from\":{\"$ref\":\"#/$defs/point\"},"
              + "\"to\":{\"$ref\":\"#/$defs/point\"}},\"required\":[\"from\",\"to\"],"
              + "\"additionalProperties\":false}",
          "{\"$defs\":{\"tree\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
              + "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/tree\"},\"maxItems\":1}},"
              + "\"required\":[\"v\",\"kids\"],\"additionalProperties\":false}},"
              + "\"$ref\":\"#/$defs/tree\"}",
          obj("\"maybe\":{\"type\":[\"string\",\"null\"],\"maxLength\":4}", "\"maybe\""),
          "{\"type\":\"object\",\"additionalProperties\":false}",
          obj(
              "\"when\":{\"type\":\"string\",\"format\":\"date\"},\"id\":{\"type\":\"string\",\"format\":\"uuid\"}",
              "\"when\",\"id\""),
          obj(
              "\"user\":"
                  + obj(
                      "\"name\":"
                          + S
                          + ",\"roles\":{\"type\":\"array\",\"items\":{\"enum\":[\"admin\",\"dev\"]},\"maxItems\":2}",
                      "\"name\",\"roles\"")
                  + ",\"active\":{\"type\":\"boolean\"}",
              "\"user\",\"active\""));

  @TempDir static Path dir;

  private static LlavaModel model;
  private static Generator generator;
  private static int[] prompt;

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    model = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(1 << 20));
    generator = new Generator(model);
    prompt = model.rawPrompt("USER: Answer in JSON.\nASSISTANT:").ids();
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  private static String obj(String properties, String required) {
    return "{\"type\":\"object\",\"properties\":{"
        + properties
        + "},\"required\":["
        + required
        + "],\"additionalProperties\":false}";
  }

  static Stream<Arguments> table() {
    return Stream.iterate(0, i -> i + 1)
        .limit(SCHEMAS.size())
        .flatMap(i -> Stream.of(Arguments.of(i, true), Arguments.of(i, false)));
  }

  @Test
  void theTableHoldsThirtyOrMoreSchemas() {
    assertTrue(SCHEMAS.size() >= 30, "schemas: " + SCHEMAS.size());
  }

  @ParameterizedTest(name = "schema {0}, greedy {1}")
  @MethodSource("table")
  void everyOutputParsesAndValidates(int index, boolean greedy) throws Exception {
    JsonNode schema = RandomJson.JSON.readTree(SCHEMAS.get(index));
    Grammar grammar = JsonSchemaGrammar.compile(schema, "schema");
    SamplingParams.Builder params = SamplingParams.builder().maxTokens(MAX_TOKENS).grammar(grammar);
    if (greedy) {
      params.temperature(0);
    } else {
      params.temperature(1.0).seed(1000L + index);
    }
    GenerationResult r = generator.generate(prompt, List.of(), params.build(), text -> {});
    assertEquals(FinishReason.STOP, r.finishReason(), "output so far: " + r.text());
    JsonNode value = RandomJson.JSON.readTree(r.text());
    assertEquals("", SchemaCheck.errors(schema, value), r.text());
  }

  @Test
  void jsonObjectGivesAnObjectOrAPrefixOfOneWhenMaxTokensCutsIt() throws Exception {
    GrammarText g = new GrammarText(JsonSchemaGrammar.anyObject());
    for (int seed = 0; seed < 6; seed++) {
      SamplingParams params =
          SamplingParams.builder()
              .maxTokens(60)
              .temperature(1.0)
              .seed(seed)
              .grammar(JsonSchemaGrammar.anyObject())
              .build();
      GenerationResult r = generator.generate(prompt, List.of(), params, text -> {});
      if (r.finishReason() == FinishReason.STOP) {
        assertTrue(RandomJson.JSON.readTree(r.text()).isObject(), r.text());
      } else {
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(60, r.tokens().size());
        assertTrue(g.isPrefix(r.text()), r.text());
      }
    }
  }
}
