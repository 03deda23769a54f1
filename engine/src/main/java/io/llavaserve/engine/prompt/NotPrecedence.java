package io.llavaserve.engine.prompt;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * Gives Jinja2's precedence to a unary {@code not} in jinjava, which binds it tighter than
 * comparisons and tests: Jinja2 reads {@code not x|length == 1} as {@code not (x|length == 1)} and
 * {@code not tools is defined} as {@code not (tools is defined)}, jinjava as {@code (not x|length)
 * == 1}. Each unary {@code not} gets its operand in parentheses, up to the first {@code and},
 * {@code or}, {@code if}, {@code else}, comma or closing bracket at its own depth. {@code x not in
 * y} and {@code x is not none} are left alone.
 */
final class NotPrecedence {

  /** Tokens after which a {@code not} starts an operand (else it is {@code not in}). */
  private static final Set<String> BEFORE_UNARY =
      Set.of(
          "and", "or", "not", "if", "elif", "else", "in", "(", "[", "{", ",", ":", "=", "==", "!=",
          "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "~", "set", "return");

  private static final Set<String> ENDS_OPERAND = Set.of("and", "or", "if", "else", ",");

  private NotPrecedence() {}

  private record Token(String text, int start, int end) {}

  /**
   * The expression (a block's inside, without its delimiters) with each unary not's operand
   * wrapped.
   */
  static String rewrite(String expression) {
    List<Token> tokens = tokens(expression);
    TreeMap<Integer, StringBuilder> inserts = new TreeMap<>();
    for (int i = 0; i < tokens.size(); i++) {
      if (!tokens.get(i).text().equals("not") || i + 1 == tokens.size()) {
        continue;
      }
      String before = i == 0 ? null : tokens.get(i - 1).text();
      if (before != null && !BEFORE_UNARY.contains(before)) {
        continue; // "x not in y", "x is not none"
      }
      int end = i + 1;
      int depth = 0;
      for (; end < tokens.size(); end++) {
        String t = tokens.get(end).text();
        if (t.equals("(") || t.equals("[") || t.equals("{")) {
          depth++;
        } else if (t.equals(")") || t.equals("]") || t.equals("}")) {
          if (--depth < 0) {
            break;
          }
        } else if (depth == 0 && ENDS_OPERAND.contains(t)) {
          break;
        }
      }
      if (end == i + 1) {
        continue;
      }
      inserts.computeIfAbsent(tokens.get(i + 1).start(), k -> new StringBuilder()).append('(');
      inserts.computeIfAbsent(tokens.get(end - 1).end(), k -> new StringBuilder()).insert(0, ')');
    }
    StringBuilder out = new StringBuilder(expression);
    for (var e : inserts.descendingMap().entrySet()) {
      out.insert(e.getKey(), e.getValue());
    }
    return out.toString();
  }

  /** Names, numbers, quoted strings and operators; whitespace is dropped. */
  private static List<Token> tokens(String s) {
    List<Token> out = new ArrayList<>();
    int i = 0;
    while (i < s.length()) {
      char c = s.charAt(i);
      int start = i;
      if (Character.isWhitespace(c)) {
        i++;
        continue;
      }
      if (c == '\'' || c == '"') {
        i++;
        while (i < s.length() && s.charAt(i) != c) {
          i += s.charAt(i) == '\\' ? 2 : 1;
        }
        i = Math.min(i + 1, s.length());
      } else if (Character.isLetterOrDigit(c) || c == '_') {
        while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) {
          i++;
        }
      } else if (i + 1 < s.length() && "=!<>".indexOf(c) >= 0 && s.charAt(i + 1) == '=') {
        i += 2;
      } else {
        i++;
      }
      out.add(new Token(s.substring(start, i), start, i));
    }
    return out;
  }
}
