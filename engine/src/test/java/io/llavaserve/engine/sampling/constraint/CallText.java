package io.llavaserve.engine.sampling.constraint;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import io.llavaserve.engine.prompt.ToolCallFormat;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Tool calls as text in each format, written with random whitespace, and read back by a parser of
 * its own (Jackson reading one value at a time), independent of the grammars it checks.
 */
final class CallText {

  private CallText() {}

  /** Calls of {@code name} with these arguments (JSON texts) in {@code format}. */
  static String write(
      ToolCallFormat format, String name, List<String> arguments, SplittableRandom rnd) {
    String key = format == ToolCallFormat.LLAMA3_JSON ? "parameters" : "arguments";
    List<String> objects = new ArrayList<>();
    for (String a : arguments) {
      objects.add(
          "{\"name\":"
              + (rnd.nextBoolean() ? " " : "")
              + "\""
              + name
              + "\", \""
              + key
              + "\":"
              + a
              + "}");
    }
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < objects.size(); i++) {
      switch (format) {
        case HERMES ->
            out.append(i > 0 ? "\n" : "")
                .append("<tool_call>\n")
                .append(objects.get(i))
                .append("\n</tool_call>");
        case LLAMA3_JSON ->
            out.append(i > 0 ? List.of(";", "; ", " ;\n").get(rnd.nextInt(3)) : "")
                .append(objects.get(i));
        case MISTRAL ->
            out.append(i == 0 ? "[TOOL_CALLS]" + (rnd.nextBoolean() ? " " : "") + "[" : ", ")
                .append(objects.get(i))
                .append(i == objects.size() - 1 ? "]" : "");
      }
    }
    return out.toString();
  }

  /**
   * How many calls {@code text} holds, each of {@code name} with arguments valid under {@code
   * schema}; -1 when it is not such calls in {@code format}.
   */
  static int read(ToolCallFormat format, String text, String name, JsonNode schema) {
    Cursor c = new Cursor(text);
    List<JsonNode> objects = new ArrayList<>();
    try {
      c.ws();
      switch (format) {
        case HERMES -> {
          while (!c.end()) {
            c.expect("<tool_call>");
            objects.add(c.value());
            c.ws();
            c.expect("</tool_call>");
            c.ws();
          }
        }
        case LLAMA3_JSON -> {
          objects.add(c.value());
          c.ws();
          while (!c.end()) {
            c.expect(";");
            objects.add(c.value());
            c.ws();
          }
        }
        case MISTRAL -> {
          c.expect("[TOOL_CALLS]");
          JsonNode array = c.value();
          c.ws();
          if (!c.end() || !array.isArray()) {
            return -1;
          }
          array.forEach(objects::add);
        }
      }
    } catch (IOException | IllegalStateException e) {
      return -1;
    }
    String key = format == ToolCallFormat.LLAMA3_JSON ? "parameters" : "arguments";
    for (JsonNode o : objects) {
      if (!o.isObject()
          || o.size() != 2
          || !name.equals(o.path("name").asText(null))
          || !o.has(key)
          || !SchemaCheck.errors(schema, o.get(key)).isEmpty()) {
        return -1;
      }
    }
    return objects.isEmpty() ? -1 : objects.size();
  }

  private static final class Cursor {
    private final String text;
    private int at;

    Cursor(String text) {
      this.text = text;
    }

    boolean end() {
      return at == text.length();
    }

    void ws() {
      while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
        at++;
      }
    }

    void expect(String s) {
      if (!text.startsWith(s, at)) {
        throw new IllegalStateException("expected " + s + " at " + at);
      }
      at += s.length();
    }

    JsonNode value() throws IOException {
      ws();
      try (JsonParser p = RandomJson.JSON.getFactory().createParser(text.substring(at))) {
        JsonNode v = RandomJson.JSON.readTree(p);
        if (v == null) {
          throw new IllegalStateException("no value at " + at);
        }
        at += (int) p.getCurrentLocation().getCharOffset();
        return v;
      }
    }
  }
}
