package io.llavaserve.web.openai.toolparsers;

/**
 * Finds the end of one JSON value in text that arrives in pieces: skips the whitespace before it,
 * keeps its characters, and stops right after its last one. It tracks strings and brackets only;
 * whether the value is valid JSON is for a parser to say once it is whole.
 */
final class JsonValueScanner {
  private int depth;
  private boolean started;
  private boolean inString;
  private boolean escape;
  private boolean done;
  private boolean any; // some character of the value was kept
  private int consumed; // of the text last taken

  /** The characters of {@code text} that belong to the value. */
  String take(String text) {
    StringBuilder kept = new StringBuilder();
    int i = 0;
    for (; i < text.length() && !done; i++) {
      char c = text.charAt(i);
      if (!started) {
        if (Character.isWhitespace(c)) {
          continue;
        }
        started = true;
      }
      if (inString) {
        any = true;
        kept.append(c);
        if (escape) {
          escape = false;
        } else if (c == '\\') {
          escape = true;
        } else if (c == '"') {
          inString = false;
          done = depth == 0;
        }
        continue;
      }
      if (depth == 0 && (c == '}' || c == ']' || any && (Character.isWhitespace(c) || c == ','))) {
        done = true; // the end of a scalar value
        break;
      }
      any = true;
      kept.append(c);
      if (c == '"') {
        inString = true;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        depth--;
        done = depth == 0;
      }
    }
    consumed = i;
    return kept.toString();
  }

  boolean done() {
    return done;
  }

  /** How much of the text last taken was read. */
  int consumed() {
    return consumed;
  }
}
