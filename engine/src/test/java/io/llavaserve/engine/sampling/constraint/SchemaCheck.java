package io.llavaserve.engine.sampling.constraint;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * An independent validator of the schema subset the grammar compiler supports, written from the
 * JSON Schema text (not from the compiler): {@link #errors} is empty when the instance is valid.
 */
public final class SchemaCheck {

  private static final Pattern DATE =
      Pattern.compile("\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])");
  private static final Pattern TIME =
      Pattern.compile(
          "([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d+)?([Zz]|[+-]([01]\\d|2[0-3]):[0-5]\\d)");
  private static final Pattern UUID =
      Pattern.compile(
          "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

  private final JsonNode root;

  private SchemaCheck(JsonNode root) {
    this.root = root;
  }

  /** What is wrong with {@code value} under {@code schema}, or "" when nothing is. */
  public static String errors(JsonNode schema, JsonNode value) {
    StringBuilder out = new StringBuilder();
    new SchemaCheck(schema).check(schema, value, "$", out);
    return out.toString();
  }

  private void check(JsonNode s, JsonNode v, String at, StringBuilder out) {
    if (s.isBoolean()) {
      if (!s.booleanValue()) {
        out.append(at).append(": false schema\n");
      }
      return;
    }
    if (s.has("$ref")) {
      check(root.at(s.get("$ref").asText().substring(1)), v, at, out);
      return;
    }
    if (s.has("const") && !s.get("const").equals(v)) {
      out.append(at).append(": not the const\n");
    }
    if (s.has("enum")) {
      boolean found = false;
      for (JsonNode e : s.get("enum")) {
        found |= e.equals(v);
      }
      if (!found) {
        out.append(at).append(": not in the enum\n");
      }
    }
    if (s.has("anyOf")) {
      boolean any = false;
      for (JsonNode alt : s.get("anyOf")) {
        StringBuilder sub = new StringBuilder();
        check(alt, v, at, sub);
        any |= sub.length() == 0;
      }
      if (!any) {
        out.append(at).append(": matches no anyOf alternative\n");
      }
    }
    JsonNode type = s.get("type");
    if (type != null) {
      boolean ok = false;
      for (JsonNode t : type.isArray() ? type : java.util.List.of(type)) {
        ok |= hasType(v, t.asText());
      }
      if (!ok) {
        out.append(at).append(": not of type ").append(type).append('\n');
        return;
      }
    }
    if (v.isObject()) {
      JsonNode props = s.get("properties");
      if (s.has("required")) {
        for (JsonNode r : s.get("required")) {
          if (!v.has(r.asText())) {
            out.append(at).append(": lacks ").append(r.asText()).append('\n');
          }
        }
      }
      Iterator<Map.Entry<String, JsonNode>> fields = v.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> f = fields.next();
        JsonNode extra = s.get("additionalProperties");
        if (props != null && props.has(f.getKey())) {
          check(props.get(f.getKey()), f.getValue(), at + "." + f.getKey(), out);
        } else if (extra != null && extra.isBoolean() && !extra.booleanValue()) {
          out.append(at).append(": extra property ").append(f.getKey()).append('\n');
        } else if (extra != null && extra.isObject()) {
          check(extra, f.getValue(), at + "." + f.getKey(), out);
        }
      }
    }
    if (v.isArray()) {
      if (s.has("minItems") && v.size() < s.get("minItems").asInt()) {
        out.append(at).append(": too few items\n");
      }
      if (s.has("maxItems") && v.size() > s.get("maxItems").asInt()) {
        out.append(at).append(": too many items\n");
      }
      if (s.has("items")) {
        for (int i = 0; i < v.size(); i++) {
          check(s.get("items"), v.get(i), at + "[" + i + "]", out);
        }
      }
    }
    if (v.isTextual()) {
      int length = v.textValue().codePointCount(0, v.textValue().length());
      if (s.has("minLength") && length < s.get("minLength").asInt()) {
        out.append(at).append(": too short\n");
      }
      if (s.has("maxLength") && length > s.get("maxLength").asInt()) {
        out.append(at).append(": too long\n");
      }
      if (s.has("format")) {
        String text = v.textValue();
        boolean ok =
            switch (s.get("format").asText()) {
              case "date" -> DATE.matcher(text).matches();
              case "time" -> TIME.matcher(text).matches();
              case "date-time" -> {
                int t = Math.max(text.indexOf('T'), text.indexOf('t'));
                yield t > 0
                    && DATE.matcher(text.substring(0, t)).matches()
                    && TIME.matcher(text.substring(t + 1)).matches();
              }
              case "uuid" -> UUID.matcher(text).matches();
              default -> true;
            };
        if (!ok) {
          out.append(at).append(": not a ").append(s.get("format").asText()).append('\n');
        }
      }
    }
  }

  private static boolean hasType(JsonNode v, String type) {
    return switch (type) {
      case "object" -> v.isObject();
      case "array" -> v.isArray();
      case "string" -> v.isTextual();
      case "number" -> v.isNumber();
      case "integer" -> v.isIntegralNumber() || (v.isNumber() && v.asDouble() % 1 == 0);
      case "boolean" -> v.isBoolean();
      case "null" -> v.isNull();
      default -> false;
    };
  }
}
