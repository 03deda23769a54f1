package io.llavaserve.engine.prompt;

import java.math.BigDecimal;
import java.util.Iterator;
import java.util.Map;

/**
 * Python's {@code str(x)} of the values a chat template sees, for Jinja2's {@code string} filter:
 * {@code None}, {@code True}, {@code 3.0}, {@code ['a', 1]}, {@code {'k': None}}; a string is
 * itself, and quoted ({@code repr}) inside a list or dict.
 */
final class PythonRepr {

  private PythonRepr() {}

  static String of(Object v) {
    StringBuilder out = new StringBuilder();
    write(v, out, false);
    return out.toString();
  }

  private static void write(Object v, StringBuilder out, boolean quoted) {
    if (v == null) {
      out.append("None");
    } else if (v instanceof Boolean b) {
      out.append(b ? "True" : "False");
    } else if (v instanceof Double || v instanceof Float) {
      out.append(floatRepr(((Number) v).doubleValue()));
    } else if (v instanceof Number n) {
      out.append(n);
    } else if (v instanceof CharSequence s) {
      if (quoted) {
        string(s.toString(), out);
      } else {
        out.append(s);
      }
    } else if (v instanceof Map<?, ?> map) {
      out.append('{');
      Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<?, ?> e = it.next();
        write(e.getKey(), out, true);
        out.append(": ");
        write(e.getValue(), out, true);
        out.append(it.hasNext() ? ", " : "");
      }
      out.append('}');
    } else if (v instanceof Iterable<?> list) {
      out.append('[');
      Iterator<?> it = list.iterator();
      while (it.hasNext()) {
        write(it.next(), out, true);
        out.append(it.hasNext() ? ", " : "");
      }
      out.append(']');
    } else {
      out.append(v);
    }
  }

  /** Python's float repr: the shortest digits, {@code 1.0}, {@code 1e+16}, {@code 1.5e-05}. */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) {
      return "nan";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "inf" : "-inf";
    }
    if (d == 0) {
      return 1 / d < 0 ? "-0.0" : "0.0";
    }
    BigDecimal shortest = new BigDecimal(Double.toString(d)).stripTrailingZeros();
    int exponent = shortest.precision() - shortest.scale() - 1; // of the first digit
    if (exponent >= -5 && exponent < 16) {
      String plain = shortest.toPlainString();
      return plain.contains(".") ? plain : plain + ".0";
    }
    String digits = shortest.unscaledValue().abs().toString();
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return (d < 0 ? "-" : "")
        + mantissa
        + "e"
        + (exponent < 0 ? "-" : "+")
        + String.format("%02d", Math.abs(exponent));
  }

  /** Python's repr of a str: single quotes unless it holds one and no double quote. */
  private static void string(String s, StringBuilder out) {
    char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    out.append(q);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c == q) {
            out.append('\\').append(c);
          } else if (c < 0x20 || c == 0x7f) {
            out.append(String.format("\\x%02x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append(q);
  }
}
