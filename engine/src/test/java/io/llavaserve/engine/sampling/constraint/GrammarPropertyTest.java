package io.llavaserve.engine.sampling.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The compiled grammar of random schemas accepts exactly the valid texts: every prefix of a random
 * valid instance is viable and the whole is a sentence; every random mutation the grammar still
 * accepts parses and validates (independently, with {@link SchemaCheck}), and most are refused.
 */
class GrammarPropertyTest {

  private static final int SCHEMAS = 300;
  private static final int INSTANCES = 8;

  @Test
  void everyPrefixOfAValidInstanceIsViableAndTheWholeIsASentence() throws Exception {
    SplittableRandom rnd = new SplittableRandom(14);
    int checked = 0;
    for (int i = 0; i < SCHEMAS; i++) {
      RandomJson gen = new RandomJson(rnd.split());
      JsonNode schema = gen.schema(3);
      GrammarText g = new GrammarText(JsonSchemaGrammar.compile(schema, "schema"));
      for (int k = 0; k < INSTANCES; k++) {
        String text = gen.instance(schema, schema);
        JsonNode parsed = RandomJson.JSON.readTree(text);
        assertEquals("", SchemaCheck.errors(schema, parsed), "generator: " + text);
        assertEquals(
            text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length,
            g.viablePrefix(text),
            "refused a prefix of " + text + " under " + schema);
        assertTrue(g.accepts(text), "not a sentence: " + text + " under " + schema);
        checked++;
      }
    }
    assertEquals(SCHEMAS * INSTANCES, checked);
  }

  @Test
  void aMutationTheGrammarAcceptsIsStillValidAndMostAreRefused() throws Exception {
    SplittableRandom rnd = new SplittableRandom(41);
    String alphabet = "{}[]\",:0123456789-.eEtrufalsn \n\\éx";
    int accepted = 0;
    int refused = 0;
    for (int i = 0; i < SCHEMAS; i++) {
      RandomJson gen = new RandomJson(rnd.split());
      JsonNode schema = gen.schema(3);
      GrammarText g = new GrammarText(JsonSchemaGrammar.compile(schema, "schema"));
      for (int k = 0; k < INSTANCES; k++) {
        StringBuilder text = new StringBuilder(gen.instance(schema, schema));
        int edits = 1 + rnd.nextInt(2);
        for (int e = 0; e < edits && text.length() > 0; e++) {
          int at = rnd.nextInt(text.length());
          char c = alphabet.charAt(rnd.nextInt(alphabet.length()));
          switch (rnd.nextInt(3)) {
            case 0 -> text.deleteCharAt(at);
            case 1 -> text.insert(at, c);
            default -> text.setCharAt(at, c);
          }
        }
        String mutated = text.toString();
        if (g.accepts(mutated)) {
          accepted++;
          JsonNode parsed = RandomJson.JSON.readTree(mutated);
          assertEquals(
              "", SchemaCheck.errors(schema, parsed), "accepted " + mutated + " under " + schema);
        } else {
          refused++;
        }
      }
    }
    assertTrue(refused > SCHEMAS * INSTANCES / 2, "refused " + refused + ", accepted " + accepted);
    assertTrue(accepted > 0, "no mutation stayed valid, so the check above never ran");
  }
}
