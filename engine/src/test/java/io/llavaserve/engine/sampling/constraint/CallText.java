package io.llavaserve.engine.sampling.constraint;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llavaserve.engine.prompt.ToolCallFormat;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Tool calls as text in each format, written with random whitespace, and read back by a parser of
 * its own (Jackson reading one value at a time; a small reader of Python literals for pythonic
 * calls), independent of the grammars it checks.
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
        case MISTRAL_V11 ->
            out.append(i > 0 && rnd.nextBoolean() ? "\n" : "")
                .append("[TOOL_CALLS]")
                .append(name)
                .append("[ARGS]")
                .append(arguments.get(i).strip());
        case PYTHONIC ->
            out.append(i == 0 ? "[" : List.of(", ", ",", " ,\n").get(rnd.nextInt(3)))
                .append(name)
                .append('(')
                .append(keywords(arguments.get(i), rnd))
                .append(')')
                .append(i == objects.size() - 1 ? "]" : "");
        case NONE -> throw new IllegalArgumentException("no calls are written in format none");
      }
    }
    return out.toString();
  }

  /** A JSON object's members as Python keyword arguments: {@code a=1, b=True}. */
  private static String keywords(String object, SplittableRandom rnd) {
    JsonNode o;
    try {
      o = RandomJson.JSON.readTree(object);
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
    List<String> out = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      out.add(e.getKey() + (rnd.nextBoolean() ? "=" : " = ") + python(e.getValue()));
    }
    return String.join(", ", out);
  }

  /** A JSON value as a Python literal. */
  static String python(JsonNode v) {
    try {
      if (v.isNull()) {
        return "None";
      }
      if (v.isBoolean()) {
        return v.booleanValue() ? "True" : "False";
      }
      if (v.isArray()) {
        List<String> items = new ArrayList<>();
        v.forEach(x -> items.add(python(x)));
        return "[" + String.join(", ", items) + "]";
      }
      if (v.isObject()) {
        List<String> items = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          items.add(RandomJson.JSON.writeValueAsString(e.getKey()) + ": " + python(e.getValue()));
        }
        return "{" + String.join(", ", items) + "}";
      }
      return RandomJson.JSON.writeValueAsString(v);
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
  }

  /**
   * How many calls {@code text} holds, each of {@code name} with arguments valid under {@code
   * schema}; -1 when it is not such calls in {@code format}.
   */
  static int read(ToolCallFormat format, String text, String name, JsonNode schema) {
    Cursor c = new Cursor(text);
    List<JsonNode> objects = new ArrayList<>();
    List<JsonNode> arguments = new ArrayList<>();
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
        case MISTRAL_V11 -> {
          while (!c.end()) {
            c.expect("[TOOL_CALLS]" + name + "[ARGS]");
            if (Character.isWhitespace(text.charAt(c.at))) {
              return -1;
            }
            arguments.add(c.value());
            c.ws();
          }
        }
        case PYTHONIC -> {
          c.expect("[");
          do {
            c.ws();
            c.expect(name + "(");
            arguments.add(c.keywords());
            c.expect(")");
            c.ws();
          } while (c.skip(","));
          c.expect("]");
          c.ws();
          if (!c.end()) {
            return -1;
          }
        }
        case NONE -> {
          return -1;
        }
      }
    } catch (IOException | IllegalStateException | IndexOutOfBoundsException e) {
      return -1;
    }
    String key = format == ToolCallFormat.LLAMA3_JSON ? "parameters" : "arguments";
    for (JsonNode o : objects) {
      if (!o.isObject()
          || o.size() != 2
          || !name.equals(o.path("name").asText(null))
          || !o.has(key)) {
        return -1;
      }
      arguments.add(o.get(key));
    }
    for (JsonNode a : arguments) {
      if (!SchemaCheck.errors(schema, a).isEmpty()) {
        return -1;
      }
    }
    return arguments.isEmpty() ? -1 : arguments.size();
  }

  private static final class Cursor {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

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

    boolean skip(String s) {
      ws();
      if (text.startsWith(s, at)) {
        at += s.length();
        return true;
      }
      return false;
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

    /** Python keyword arguments up to the closing parenthesis, as an object. */
    ObjectNode keywords() throws IOException {
      ObjectNode args = NODES.objectNode();
      ws();
      while (!text.startsWith(")", at)) {
        int start = at;
        while (at < text.length()
            && (Character.isLetterOrDigit(text.charAt(at)) || text.charAt(at) == '_')) {
          at++;
        }
        String key = text.substring(start, at);
        if (key.isEmpty() || Character.isDigit(key.charAt(0)) || args.has(key)) {
          throw new IllegalStateException("bad keyword at " + start);
        }
        ws();
        expect("=");
        args.set(key, literal());
        ws();
        if (!skip(",")) {
          break;
        }
        ws();
      }
      ws();
      return args;
    }

    /** One Python literal: None, True, False, a number, a string, a list or a dict. */
    JsonNode literal() throws IOException {
      ws();
      for (String k : List.of("None", "True", "False")) {
        if (text.startsWith(k, at)) {
          at += k.length();
          return k.equals("None") ? NODES.nullNode() : NODES.booleanNode(k.equals("True"));
        }
      }
      char c = text.charAt(at);
      if (c == '"') {
        int start = at++;
        while (text.charAt(at) != '"') {
          at += text.charAt(at) == '\\' ? 2 : 1;
        }
        at++;
        // Python's and JSON's escapes agree on everything the grammar writes but \/.
        String literal = text.substring(start, at);
        if (literal.contains("\\/")) {
          throw new IllegalStateException("Python has no \\/ escape");
        }
        return RandomJson.JSON.readTree(literal);
      }
      if (c == '[') {
        at++;
        ArrayNode list = NODES.arrayNode();
        ws();
        while (!text.startsWith("]", at)) {
          list.add(literal());
          if (!skip(",")) {
            break;
          }
          ws();
        }
        ws();
        expect("]");
        return list;
      }
      if (c == '{') {
        at++;
        ObjectNode dict = NODES.objectNode();
        ws();
        while (!text.startsWith("}", at)) {
          JsonNode key = literal();
          if (!key.isTextual()) {
            throw new IllegalStateException("a dict key that is not a string at " + at);
          }
          ws();
          expect(":");
          dict.set(key.textValue(), literal());
          if (!skip(",")) {
            break;
          }
          ws();
        }
        ws();
        expect("}");
        return dict;
      }
      int start = at;
      while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
        at++;
      }
      String number = text.substring(start, at);
      if (!number.matches("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")) {
        throw new IllegalStateException("not a number: " + number);
      }
      return RandomJson.JSON.readTree(number); // the node JSON's reading of it gives
    }
  }
}
