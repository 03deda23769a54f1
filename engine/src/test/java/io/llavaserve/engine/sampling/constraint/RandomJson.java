package io.llavaserve.engine.sampling.constraint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random schemas of the supported subset and random texts valid under them, written the way the
 * grammar allows (properties in schema order, at most {@link JsonRules#MAX_WHITESPACE} whitespace
 * bytes between tokens, bounded digits), with escapes, multi-byte characters and whitespace drawn
 * at random: the generators of the grammar's property tests.
 */
final class RandomJson {

  static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] NAMES = {"id", "name", "tags", "x", "ünï", "a b", "k\"q", "v"};
  private static final String[] SAMPLES = {
    "a", "Z", " ", "é", "€", "😀", "\\n", "\\\"", "\\u00e9", "\\\\", "/"
  };

  private final SplittableRandom rnd;
  private final boolean pretty;

  RandomJson(SplittableRandom rnd) {
    this.rnd = rnd;
    this.pretty = rnd.nextBoolean();
  }

  /** A random schema at most {@code depth} levels deep, with $defs and a $ref now and then. */
  ObjectNode schema(int depth) {
    ObjectNode s = node(depth);
    if (rnd.nextInt(4) == 0) {
      ObjectNode wrapper = JSON.createObjectNode();
      wrapper.putObject("$defs").set("inner", s);
      wrapper.put("type", "object");
      wrapper.putObject("properties").putObject("value").put("$ref", "#/$defs/inner");
      wrapper.putArray("required").add("value");
      wrapper.put("additionalProperties", false);
      return wrapper;
    }
    return s;
  }

  private ObjectNode node(int depth) {
    ObjectNode s = JSON.createObjectNode();
    int kind = rnd.nextInt(depth > 0 ? 12 : 8);
    switch (kind) {
      case 0 -> {
        s.put("type", "string");
        if (rnd.nextBoolean()) {
          s.put("minLength", rnd.nextInt(3));
          s.put("maxLength", 3 + rnd.nextInt(4));
        }
      }
      case 1 -> s.put("type", "number");
      case 2 -> s.put("type", "integer");
      case 3 -> s.put("type", "boolean");
      case 4 -> s.putArray("type").add("string").add("null");
      case 5 -> s.putArray("enum").add("red").add("gr\"een").add(3).add("😀").addNull();
      case 6 -> s.put("const", "fixed");
      case 7 -> s.put("type", "string").put("format", rnd.nextBoolean() ? "date" : "uuid");
      case 8, 9 -> {
        s.put("type", "object");
        ObjectNode props = s.putObject("properties");
        ArrayNode required = s.putArray("required");
        int n = 1 + rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
          String name = NAMES[rnd.nextInt(NAMES.length)];
          if (!props.has(name)) {
            props.set(name, node(depth - 1));
            if (rnd.nextInt(3) > 0) {
              required.add(name);
            }
          }
        }
        s.put("additionalProperties", false);
      }
      case 10 -> {
        s.put("type", "array");
        s.set("items", node(depth - 1));
        if (rnd.nextBoolean()) {
          s.put("minItems", rnd.nextInt(2));
          s.put("maxItems", 2 + rnd.nextInt(3));
        }
      }
      default -> {
        ArrayNode any = s.putArray("anyOf");
        any.add(node(depth - 1));
        any.add(node(depth - 1));
      }
    }
    return s;
  }

  /** A text valid under {@code schema} (whose $refs resolve in {@code root}). */
  String instance(JsonNode root, JsonNode s) {
    StringBuilder out = new StringBuilder();
    ws(out);
    value(root, s, out);
    return out.toString();
  }

  private void value(JsonNode root, JsonNode s, StringBuilder out) {
    if (s.has("$ref")) {
      value(root, root.at(s.get("$ref").asText().substring(1)), out);
    } else if (s.has("const")) {
      out.append(s.get("const").toString());
    } else if (s.has("enum")) {
      out.append(s.get("enum").get(rnd.nextInt(s.get("enum").size())).toString());
    } else if (s.has("anyOf")) {
      value(root, s.get("anyOf").get(rnd.nextInt(s.get("anyOf").size())), out);
    } else {
      JsonNode type = s.get("type");
      String t = type.isArray() ? type.get(rnd.nextInt(type.size())).asText() : type.asText();
      switch (t) {
        case "string" -> string(s, out);
        case "number" -> number(out, true);
        case "integer" -> number(out, false);
        case "boolean" -> out.append(rnd.nextBoolean());
        case "null" -> out.append("null");
        case "object" -> object(root, s, out);
        case "array" -> array(root, s, out);
        default -> throw new IllegalArgumentException(t);
      }
    }
  }

  private void object(JsonNode root, JsonNode s, StringBuilder out) {
    out.append('{');
    ws(out);
    boolean first = true;
    Iterator<Map.Entry<String, JsonNode>> it = s.get("properties").fields();
    java.util.Set<String> required = new java.util.HashSet<>();
    s.path("required").forEach(r -> required.add(r.asText()));
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> p = it.next();
      if (!required.contains(p.getKey()) && rnd.nextBoolean()) {
        continue;
      }
      if (!first) {
        out.append(',');
        ws(out);
      }
      first = false;
      out.append(JSON.valueToTree(p.getKey()).toString());
      ws(out);
      out.append(':');
      ws(out);
      value(root, p.getValue(), out);
      ws(out);
    }
    out.append('}');
  }

  private void array(JsonNode root, JsonNode s, StringBuilder out) {
    int min = s.path("minItems").asInt(0);
    int max = s.has("maxItems") ? s.get("maxItems").asInt() : min + 3;
    int n = min + rnd.nextInt(max - min + 1);
    out.append('[');
    ws(out);
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        out.append(',');
        ws(out);
      }
      value(root, s.get("items"), out);
      ws(out);
    }
    out.append(']');
  }

  private void string(JsonNode s, StringBuilder out) {
    String format = s.path("format").asText("");
    if (format.equals("date")) {
      out.append(
          String.format(
              "\"%04d-%02d-%02d\"", rnd.nextInt(10000), 1 + rnd.nextInt(12), 1 + rnd.nextInt(31)));
      return;
    }
    if (format.equals("uuid")) {
      out.append('"').append(java.util.UUID.randomUUID()).append('"');
      return;
    }
    int min = s.path("minLength").asInt(0);
    int max = s.has("maxLength") ? s.get("maxLength").asInt() : min + 6;
    int n = min + rnd.nextInt(max - min + 1);
    out.append('"');
    for (int i = 0; i < n; i++) {
      out.append(SAMPLES[rnd.nextInt(SAMPLES.length)]);
    }
    out.append('"');
  }

  private void number(StringBuilder out, boolean fraction) {
    if (rnd.nextBoolean()) {
      out.append('-');
    }
    out.append(rnd.nextInt(5) == 0 ? 0 : 1 + rnd.nextInt(1_000_000));
    if (fraction && rnd.nextBoolean()) {
      out.append('.').append(rnd.nextInt(1000));
    }
    if (fraction && rnd.nextInt(4) == 0) {
      out.append(rnd.nextBoolean() ? "e" : "E")
          .append(rnd.nextBoolean() ? "-" : "")
          .append(rnd.nextInt(300));
    }
  }

  private void ws(StringBuilder out) {
    if (!pretty) {
      return;
    }
    int n = rnd.nextInt(JsonRules.MAX_WHITESPACE + 1);
    for (int i = 0; i < n; i++) {
      out.append(" \n\t\r".charAt(rnd.nextInt(4)));
    }
  }
}
