package io.llavaserve.engine.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Iterator;
import java.util.Map;

/**
 * JSON text as Python's {@code json.dumps(value, ensure_ascii=False)} writes it, which is what
 * transformers' {@code tojson} filter gives chat templates: {@code ", "} between items, {@code ":
 * "} after keys, non-ASCII characters as they are. Prompts rendered here then match the ones the
 * model was trained on byte for byte.
 */
final class PythonJson {

  private static final ObjectMapper JSON = new ObjectMapper();

  private PythonJson() {}

  /** Maps, lists, strings, numbers, booleans, null and Jackson trees. */
  static String dumps(Object value) {
    StringBuilder out = new StringBuilder();
    write(value instanceof JsonNode n ? JSON.convertValue(n, Object.class) : value, out);
    return out.toString();
  }

  private static void write(Object v, StringBuilder out) {
    if (v == null) {
      out.append("null");
    } else if (v instanceof String s) {
      string(s, out);
    } else if (v instanceof Boolean b) {
      out.append(b ? "true" : "false");
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      out.append(d == Math.rint(d) && Math.abs(d) < 1e16 ? (long) d + ".0" : Double.toString(d));
    } else if (v instanceof Number n) {
      out.append(n);
    } else if (v instanceof Map<?, ?> map) {
      out.append('{');
      Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<?, ?> e = it.next();
        string(String.valueOf(e.getKey()), out);
        out.append(": ");
        write(e.getValue(), out);
        out.append(it.hasNext() ? ", " : "");
      }
      out.append('}');
    } else if (v instanceof Iterable<?> list) {
      out.append('[');
      Iterator<?> it = list.iterator();
      while (it.hasNext()) {
        write(it.next(), out);
        out.append(it.hasNext() ? ", " : "");
      }
      out.append(']');
    } else if (v instanceof JsonNode n) {
      write(JSON.convertValue(n, Object.class), out);
    } else {
      string(v.toString(), out);
    }
  }

  private static void string(String s, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }
}
