package io.llavaserve.engine.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
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
    return dumps(value, -1, ", ", ": ", false);
  }

  /**
   * As {@code json.dumps(value, ensure_ascii=False, indent=indent, separators=(item, key),
   * sort_keys=sortKeys)}; {@code indent < 0} is Python's None (one line). With an indent Python's
   * default item separator is {@code ","}, the caller passes what Python would use.
   */
  static String dumps(Object value, int indent, String item, String key, boolean sortKeys) {
    StringBuilder out = new StringBuilder();
    new Writer(indent, item, key, sortKeys)
        .write(value instanceof JsonNode n ? JSON.convertValue(n, Object.class) : value, out, 0);
    return out.toString();
  }

  private record Writer(int indent, String item, String key, boolean sortKeys) {

    void write(Object v, StringBuilder out, int depth) {
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
        List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
        if (sortKeys) {
          entries.sort(Comparator.comparing(e -> String.valueOf(e.getKey())));
        }
        container(
            '{',
            '}',
            entries,
            out,
            depth,
            (e, o) -> {
              string(String.valueOf(e.getKey()), o);
              o.append(key);
              write(e.getValue(), o, depth + 1);
            });
      } else if (v instanceof Iterable<?> list) {
        List<Object> items = new ArrayList<>();
        list.forEach(items::add);
        container('[', ']', items, out, depth, (x, o) -> write(x, o, depth + 1));
      } else if (v instanceof Object[] array) {
        write(Arrays.asList(array), out, depth);
      } else if (v instanceof JsonNode n) {
        write(JSON.convertValue(n, Object.class), out, depth);
      } else {
        string(v.toString(), out);
      }
    }

    /** Items between brackets: on one line, or one per line indented as Python indents them. */
    private <T> void container(
        char open,
        char close,
        List<T> items,
        StringBuilder out,
        int depth,
        java.util.function.BiConsumer<T, StringBuilder> each) {
      out.append(open);
      if (items.isEmpty()) {
        out.append(close);
        return;
      }
      for (int i = 0; i < items.size(); i++) {
        if (i > 0) {
          out.append(item);
        }
        newline(out, depth + 1);
        each.accept(items.get(i), out);
      }
      newline(out, depth);
      out.append(close);
    }

    private void newline(StringBuilder out, int depth) {
      if (indent >= 0) {
        out.append('\n').append(" ".repeat(indent * depth));
      }
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
