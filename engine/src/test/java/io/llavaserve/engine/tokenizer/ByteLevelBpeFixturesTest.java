package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Exactness against an independent implementation: every text of the fixture corpus encodes to the
 * ids Hugging Face's tokenizers (JavaScript) gave, and every id sequence decodes, whole and
 * streamed, to the text it gave.
 */
class ByteLevelBpeFixturesTest {

  @ParameterizedTest
  @ValueSource(strings = {Qwen2Fixtures.QWEN2, Qwen2Fixtures.FLAGS})
  void everyFixtureTextEncodesToTheReferenceIds(String name) {
    Tokenizer tok = Qwen2Fixtures.load(name);
    JsonNode cases = Qwen2Fixtures.fixtures(name).get("cases");
    assertTrue(cases.size() > 150, "fixture has " + cases.size() + " texts");
    List<String> failures = new ArrayList<>();
    for (JsonNode c : cases) {
      String text = c.get("text").asText();
      check(failures, text, "ids", c.get("ids"), tok.encode(text));
      check(
          failures,
          text,
          "ids_without_special",
          c.get("ids_without_special"),
          tok.encode(text, false));
    }
    assertEquals(List.of(), failures, failures.size() + " of " + cases.size() + " texts differ");
  }

  @ParameterizedTest
  @ValueSource(strings = {Qwen2Fixtures.QWEN2, Qwen2Fixtures.FLAGS})
  void everyFixtureDecodesToTheReferenceTextWholeAndStreamed(String name) {
    Tokenizer tok = Qwen2Fixtures.load(name);
    JsonNode fixtures = Qwen2Fixtures.fixtures(name);
    List<String> failures = new ArrayList<>();
    int checked = 0;
    for (String list : List.of("cases", "decodes")) {
      for (JsonNode c : fixtures.get(list)) {
        int[] ids = Qwen2Fixtures.ints(c.get("ids"));
        for (boolean skip : new boolean[] {false, true}) {
          String expected = c.get(skip ? "decoded_skipping_special" : "decoded").asText();
          String whole = tok.decode(ids, skip);
          String streamed = stream(tok, ids, skip);
          if (!expected.equals(whole) || !expected.equals(streamed)) {
            failures.add(
                List.of(ids.length)
                    + " skip="
                    + skip
                    + " expected "
                    + quote(expected)
                    + " whole "
                    + quote(whole)
                    + " streamed "
                    + quote(streamed));
          }
          checked++;
        }
      }
    }
    assertTrue(checked > 300, "checked " + checked);
    assertEquals(List.of(), failures, failures.size() + " of " + checked + " decodes differ");
  }

  static String stream(Tokenizer tok, int[] ids, boolean skip) {
    IncrementalDetokenizer d = tok.newDetokenizer(skip);
    StringBuilder out = new StringBuilder();
    for (int id : ids) {
      out.append(d.next(id));
    }
    return out.append(d.flush()).toString();
  }

  private static void check(
      List<String> failures, String text, String what, JsonNode expected, int[] actual) {
    int[] want = Qwen2Fixtures.ints(expected);
    if (!java.util.Arrays.equals(want, actual)) {
      failures.add(
          quote(text)
              + " "
              + what
              + " expected "
              + java.util.Arrays.toString(want)
              + " got "
              + java.util.Arrays.toString(actual));
    }
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    s.codePoints()
        .forEach(
            cp -> {
              if (cp < 0x20 || cp > 0x7E) {
                b.append(String.format("\\u{%x}", cp));
              } else {
                b.appendCodePoint(cp);
              }
            });
    return b.append('"').toString();
  }
}
