package io.llavaserve.web.openai.toolparsers;

/**
 * JSON strings as Python's {@code json.dumps(..., ensure_ascii=False)} writes them, which is how
 * vLLM writes the arguments of calls it reads from Python: {@code "} and {@code \} escaped, control
 * characters as {@code \n}, {@code \r}, {@code \t}, {@code \b}, {@code \f} or {@code \}{@code
 * u00XX}, everything else as it is (a lone surrogate as its {@code \}{@code uXXXX} escape, so the
 * text stays valid UTF-8).
 */
final class JsonText {

  private JsonText() {}

  /** {@code text} as a JSON string, quotes included. */
  static String quote(String text) {
    StringBuilder out = new StringBuilder(text.length() + 2).append('"');
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < text.length()
          && Character.isLowSurrogate(text.charAt(i + 1))) {
        out.append(c).append(text.charAt(++i));
      } else {
        escape(c, out);
      }
    }
    return out.append('"').toString();
  }

  /** One character of a JSON string's body, escaped where it must be. */
  static void escape(char c, StringBuilder out) {
    switch (c) {
      case '"' -> out.append("\\\"");
      case '\\' -> out.append("\\\\");
      case '\n' -> out.append("\\n");
      case '\r' -> out.append("\\r");
      case '\t' -> out.append("\\t");
      case '\b' -> out.append("\\b");
      case '\f' -> out.append("\\f");
      default -> {
        if (c < 0x20 || Character.isSurrogate(c)) {
          out.append(String.format("\\u%04x", (int) c));
        } else {
          out.append(c);
        }
      }
    }
  }
}
