package io.llavaserve.engine.sampling.constraint;

import static io.llavaserve.engine.sampling.constraint.Grammar.ref;
import static io.llavaserve.engine.sampling.constraint.Grammar.seq;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The lexical rules of JSON (RFC 8259) on a {@link Grammar.Builder}, made once each and shared by
 * every schema that needs them: whitespace, strings (valid UTF-8, escapes), numbers, literals, any
 * value, and bounded repetition.
 *
 * <p>In the Python dialect ({@link #python(Grammar.Builder)}) the same rules write Python literals
 * that mean the same values, for pythonic tool calls: {@code True}, {@code False} and {@code None}
 * for JSON's literals, and strings without the {@code \/} escape, which Python does not know;
 * JSON's strings, numbers, arrays and objects are already Python's.
 *
 * <p>Two bounds keep a model from looping forever where JSON itself has none: at most {@link
 * #MAX_WHITESPACE} whitespace bytes between two tokens, and at most {@link #MAX_DIGITS} digits in
 * an integer part, a fraction or (3) an exponent. Strings and arrays stay unbounded unless the
 * schema bounds them; {@code max_tokens} ends those.
 */
final class JsonRules {

  /** Writes values as the schema grammar's literals do: text as written, members in order. */
  private static final ObjectMapper JSON =
      new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, false);

  /** The characters after a backslash that escape one character in a JSON string. */
  private static final List<String> ESCAPES = List.of("\"", "\\", "/", "b", "f", "n", "r", "t");

  /** Whitespace bytes allowed between two JSON tokens: enough to indent a few levels. */
  static final int MAX_WHITESPACE = 8;

  /** Digits of an integer part or a fraction: more than a double holds. */
  static final int MAX_DIGITS = 17;

  /** Repetitions up to this count are laid out as a chain of rules. */
  static final int MAX_BOUND = 4096;

  final Grammar.Builder b;
  private final boolean python;
  private int ws = -1;
  private int character = -1;
  private int string = -1;
  private int number = -1;
  private int integer = -1;
  private int value = -1;
  private int object = -1;

  JsonRules(Grammar.Builder b) {
    this(b, false);
  }

  private JsonRules(Grammar.Builder b, boolean python) {
    this.b = b;
    this.python = python;
  }

  /** The rules of Python literals with the meaning of JSON values. */
  static JsonRules python(Grammar.Builder b) {
    return new JsonRules(b, true);
  }

  /** Whether these are the Python dialect's rules. */
  boolean isPython() {
    return python;
  }

  /** JSON's {@code true}, {@code false} or {@code null} as this dialect writes it. */
  String keyword(String json) {
    if (!python) {
      return json;
    }
    return switch (json) {
      case "true" -> "True";
      case "false" -> "False";
      case "null" -> "None";
      default -> throw new IllegalArgumentException("not a JSON literal: " + json);
    };
  }

  /** Zero to {@link #MAX_WHITESPACE} of space, tab, newline, carriage return. */
  int ws() {
    if (ws < 0) {
      ws = repeat("ws", new int[] {chars(" \t\n\r")}, 0, MAX_WHITESPACE);
    }
    return ws;
  }

  /** One character of a string's body: a UTF-8 code point other than {@code "}, {@code \}, C0. */
  int character() {
    if (character < 0) {
      int hex = hex();
      int cont = b.range(0x80, 0xBF);
      long[] plain = new long[4];
      for (int c = 0x20; c <= 0x7F; c++) {
        if (c != '"' && c != '\\') {
          plain[c >>> 6] |= 1L << c;
        }
      }
      List<int[]> escapes = new ArrayList<>();
      for (String e : python ? List.of("\"", "\\", "b", "f", "n", "r", "t") : ESCAPES) {
        escapes.add(b.literal(e));
      }
      escapes.add(seq(b.literal("u"), hex, hex, hex, hex));
      int escape = b.rule("escape", escapes.toArray(new int[0][]));
      character =
          b.rule(
              "char",
              new int[] {b.set(plain)},
              seq(b.literal("\\"), ref(escape)),
              seq(b.range(0xC2, 0xDF), cont),
              seq(b.range(0xE0, 0xE0), b.range(0xA0, 0xBF), cont),
              seq(b.range(0xE1, 0xEC), cont, cont),
              seq(b.range(0xED, 0xED), b.range(0x80, 0x9F), cont),
              seq(b.range(0xEE, 0xEF), cont, cont),
              seq(b.range(0xF0, 0xF0), b.range(0x90, 0xBF), cont, cont),
              seq(b.range(0xF1, 0xF3), cont, cont, cont),
              seq(b.range(0xF4, 0xF4), b.range(0x80, 0x8F), cont, cont));
    }
    return character;
  }

  int hex() {
    return chars("0123456789abcdefABCDEF");
  }

  /** The element matching any of these ASCII characters. */
  int chars(String ascii) {
    long[] bits = new long[4];
    for (char c : ascii.toCharArray()) {
      bits[c >>> 6] |= 1L << c;
    }
    return b.set(bits);
  }

  int digit() {
    return b.range('0', '9');
  }

  /** A string of any length. */
  int string() {
    if (string < 0) {
      string = string(0, -1);
    }
    return string;
  }

  /** A string of {@code min} to {@code max} characters ({@code max} -1: unbounded). */
  int string(int min, int max) {
    int body = repeat("chars", new int[] {ref(character())}, min, max);
    return b.rule("string", seq(b.literal("\""), ref(body), b.literal("\"")));
  }

  /** {@code -? (0 | [1-9][0-9]*)}, at most {@link #MAX_DIGITS} digits. */
  int integer() {
    if (integer < 0) {
      int more = repeat("digits", new int[] {digit()}, 0, MAX_DIGITS - 1);
      int unsigned = b.rule("uint", b.literal("0"), seq(b.range('1', '9'), ref(more)));
      integer = b.rule("integer", seq(ref(optional("minus", b.literal("-"))), ref(unsigned)));
    }
    return integer;
  }

  /** An integer, then an optional fraction and an optional exponent. */
  int number() {
    if (number < 0) {
      int fraction =
          optional(
              "fraction",
              seq(b.literal("."), ref(repeat("fdigits", new int[] {digit()}, 1, MAX_DIGITS))));
      int exponent =
          optional(
              "exponent",
              seq(
                  chars("eE"),
                  ref(optional("esign", new int[] {chars("+-")})),
                  ref(repeat("edigits", new int[] {digit()}, 1, 3))));
      number = b.rule("number", seq(ref(integer()), ref(fraction), ref(exponent)));
    }
    return number;
  }

  /**
   * {@code value} written in this dialect, compact. In Python: {@code None}, {@code True}, {@code
   * False}, numbers and strings as JSON writes them (Python literals of the same values), and lists
   * and dicts of those.
   */
  String literal(JsonNode value) throws JsonProcessingException {
    if (!python) {
      return JSON.writeValueAsString(value);
    }
    if (value.isNull() || value.isBoolean()) {
      return keyword(value.toString());
    }
    if (value.isArray()) {
      List<String> items = new ArrayList<>();
      for (JsonNode v : value) {
        items.add(literal(v));
      }
      return "[" + String.join(",", items) + "]";
    }
    if (value.isObject()) {
      List<String> items = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = value.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        items.add(JSON.writeValueAsString(e.getKey()) + ":" + literal(e.getValue()));
      }
      return "{" + String.join(",", items) + "}";
    }
    return JSON.writeValueAsString(value);
  }

  /** A rule matching JSON's literal {@code json} ({@code true}, {@code null}) in this dialect. */
  int literalRule(String name, String json) {
    return b.rule(name, b.literal(keyword(json)));
  }

  /** Any JSON value. */
  int value() {
    if (value < 0) {
      value = b.rule("value");
      int array = b.rule("array");
      b.define(array, new int[] {ref(list("items", ref(value), 0, -1))});
      b.define(
          value,
          new int[] {ref(object())},
          new int[] {ref(array)},
          new int[] {ref(string())},
          new int[] {ref(number())},
          b.literal(keyword("true")),
          b.literal(keyword("false")),
          b.literal(keyword("null")));
    }
    return value;
  }

  /** Any JSON object. */
  int object() {
    if (object < 0) {
      object = b.rule("object");
      b.define(object, new int[] {ref(map(-1))});
    }
    return object;
  }

  /** An object with any keys whose values match {@code valueRule} (-1: any value). */
  int map(int valueRule) {
    int v = valueRule < 0 ? value() : valueRule;
    int member =
        b.rule(
            "member", seq(ref(string()), ref(ws()), b.literal(":"), ref(ws()), ref(v), ref(ws())));
    int rest = b.rule("members");
    b.define(rest, seq(b.literal(","), ref(ws()), ref(member), ref(rest)), new int[0]);
    return b.rule(
        "map",
        seq(b.literal("{"), ref(ws()), ref(member), ref(rest), b.literal("}")),
        seq(b.literal("{"), ref(ws()), b.literal("}")));
  }

  /**
   * {@code [ item (, item)* ]} with {@code min} to {@code max} items ({@code max} -1: unbounded),
   * whitespace allowed around every token.
   */
  int list(String name, int item, int min, int max) {
    int element = b.rule(name + "-item", seq(item, ref(ws())));
    int separated = b.rule(name + "-next", seq(b.literal(","), ref(ws()), ref(element)));
    int[] open = seq(b.literal("["), ref(ws()));
    if (max == 0) {
      return b.rule(name, seq(open, b.literal("]")));
    }
    int tail = repeat(name + "-tail", new int[] {ref(separated)}, Math.max(0, min - 1), max - 1);
    int[] nonEmpty = seq(open, ref(element), ref(tail), b.literal("]"));
    return min > 0 ? b.rule(name, nonEmpty) : b.rule(name, nonEmpty, seq(open, b.literal("]")));
  }

  /** {@code body} or nothing. */
  int optional(String name, int[] body) {
    return b.rule(name, body, new int[0]);
  }

  /**
   * {@code body} repeated {@code min} to {@code max} times ({@code max} -1: unbounded), by right
   * recursion so that the matcher's stack does not grow with the count.
   */
  int repeat(String name, int[] body, int min, int max) {
    if (min < 0 || (max >= 0 && max < min)) {
      throw new IllegalArgumentException("bad repetition bounds " + min + ".." + max);
    }
    if (min > MAX_BOUND || max > MAX_BOUND) {
      throw new IllegalArgumentException("repetition bounds above " + MAX_BOUND);
    }
    int next;
    if (max < 0) {
      next = b.rule(name + "*");
      b.define(next, seq(body, ref(next)), new int[0]);
    } else {
      // up to (max - min) optional repetitions, each a rule holding the rest
      next = b.rule(name + "{0}", new int[0]);
      for (int k = 1; k <= max - min; k++) {
        next = b.rule(name + "{0," + k + "}", seq(body, ref(next)), new int[0]);
      }
    }
    for (int k = 0; k < min; k++) {
      next = b.rule(name + "+" + (k + 1), seq(body, ref(next)));
    }
    return next;
  }
}
