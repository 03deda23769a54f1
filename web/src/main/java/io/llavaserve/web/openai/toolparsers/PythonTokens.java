package io.llavaserve.web.openai.toolparsers;

import java.util.List;

/**
 * Splits Python source, one character at a time, into the tokens a list of calls with literal
 * arguments is made of: punctuation, names, numbers (as written) and strings (decoded, in pieces as
 * they come, so that a long one can stream). Strings are Python's: single, double or triple quotes,
 * the {@code r} and {@code u} prefixes, and every escape but {@code \N{...}}. Anything else (an
 * operator, a comment, a bytes or f-string) fails the text, and so does every character after.
 */
final class PythonTokens {

  /** A token. */
  sealed interface Token permits Punct, Name, Number, StringStart, StringText, StringEnd {}

  /** One of {@code [ ] ( ) { } , : = - +}. */
  record Punct(char c) implements Token {}

  /** An identifier, keywords included ({@code None}, {@code True}). */
  record Name(String text) implements Token {}

  /** A number as written, not yet checked: {@code 1_000}, {@code 0x1F}, {@code .5e-3}. */
  record Number(String text) implements Token {}

  /** A string literal opens. */
  record StringStart() implements Token {}

  /** More of the string's value, escapes decoded. */
  record StringText(String text) implements Token {}

  /** The string literal closes. */
  record StringEnd() implements Token {}

  private static final String PUNCTUATION = "[](){},:=-+";

  private enum Mode {
    DEFAULT,
    NAME,
    NUMBER,
    /** One or two quotes read: a string opens, empty, or triple-quoted. */
    OPENING,
    STRING,
    /** After a backslash. */
    ESCAPE,
    /** Reading the digits of an octal or hexadecimal escape. */
    CODE,
    FAILED
  }

  private Mode mode = Mode.DEFAULT;
  private final StringBuilder word = new StringBuilder();
  private char quote;
  private boolean triple;
  private boolean raw;
  private int quotes; // opening quotes read, or closing quotes of a triple-quoted string
  private final StringBuilder code = new StringBuilder();
  private int codeRadix;
  private int codeLength;

  boolean failed() {
    return mode == Mode.FAILED;
  }

  /** The tokens {@code c} completes, into {@code out}. */
  void feed(char c, List<Token> out) {
    switch (mode) {
      case DEFAULT -> start(c, out);
      case NAME -> {
        if (isNameChar(c)) {
          word.append(c);
        } else if (c == '"' || c == '\'') {
          String prefix = word.toString().toLowerCase(java.util.Locale.ROOT);
          if (!prefix.equals("r") && !prefix.equals("u")) {
            mode = Mode.FAILED; // bytes, f-strings
            return;
          }
          raw = prefix.equals("r");
          open(c);
        } else {
          out.add(new Name(word.toString()));
          mode = Mode.DEFAULT;
          start(c, out);
        }
      }
      case NUMBER -> {
        char last = word.charAt(word.length() - 1);
        boolean exponentSign =
            (c == '+' || c == '-')
                && (last == 'e' || last == 'E')
                && !word.toString().toLowerCase(java.util.Locale.ROOT).startsWith("0x");
        if (isNameChar(c) || c == '.' || exponentSign) {
          word.append(c);
        } else {
          out.add(new Number(word.toString()));
          mode = Mode.DEFAULT;
          start(c, out);
        }
      }
      case OPENING -> {
        if (c == quote) {
          if (++quotes == 3) {
            triple = true;
            quotes = 0;
            out.add(new StringStart());
            mode = Mode.STRING;
          }
          return;
        }
        out.add(new StringStart());
        if (quotes == 2) { // an empty string
          out.add(new StringEnd());
          mode = Mode.DEFAULT;
          start(c, out);
          return;
        }
        quotes = 0;
        mode = Mode.STRING;
        string(c, out);
      }
      case STRING -> string(c, out);
      case ESCAPE -> escape(c, out);
      case CODE -> code(c, out);
      case FAILED -> {}
    }
  }

  private void start(char c, List<Token> out) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      return;
    }
    word.setLength(0);
    if (c == '"' || c == '\'') {
      raw = false;
      open(c);
    } else if (c >= '0' && c <= '9' || c == '.') {
      word.append(c);
      mode = Mode.NUMBER;
    } else if (isNameChar(c)) {
      word.append(c);
      mode = Mode.NAME;
    } else if (PUNCTUATION.indexOf(c) >= 0) {
      out.add(new Punct(c));
    } else {
      mode = Mode.FAILED;
    }
  }

  private void open(char q) {
    quote = q;
    quotes = 1;
    triple = false;
    mode = Mode.OPENING;
  }

  private void string(char c, List<Token> out) {
    if (c == quote) {
      if (!triple) {
        out.add(new StringEnd());
        mode = Mode.DEFAULT;
      } else if (++quotes == 3) {
        out.add(new StringEnd());
        mode = Mode.DEFAULT;
      }
      return;
    }
    if (quotes > 0) { // quotes inside a triple-quoted string
      out.add(new StringText(String.valueOf(quote).repeat(quotes)));
      quotes = 0;
    }
    if (c == '\\') {
      mode = Mode.ESCAPE;
    } else if (c == '\n' && !triple) {
      mode = Mode.FAILED; // a string left open at the end of its line
    } else {
      out.add(new StringText(String.valueOf(c)));
    }
  }

  private void escape(char c, List<Token> out) {
    mode = Mode.STRING;
    if (raw) { // r"\x": both characters, and a quote does not end the string
      out.add(new StringText("\\" + c));
      return;
    }
    String decoded =
        switch (c) {
          case '\n' -> ""; // a line continued
          case '\\', '\'', '"' -> String.valueOf(c);
          case 'a' -> String.valueOf((char) 7);
          case 'b' -> "\b";
          case 'f' -> "\f";
          case 'n' -> "\n";
          case 'r' -> "\r";
          case 't' -> "\t";
          case 'v' -> String.valueOf((char) 11);
          default -> null;
        };
    if (decoded != null) {
      if (!decoded.isEmpty()) {
        out.add(new StringText(decoded));
      }
      return;
    }
    code.setLength(0);
    switch (c) {
      case 'x' -> startCode(16, 2);
      case 'u' -> startCode(16, 4);
      case 'U' -> startCode(16, 8);
      case '0', '1', '2', '3', '4', '5', '6', '7' -> {
        startCode(8, 3);
        code.append(c);
      }
      case 'N' -> mode = Mode.FAILED; // named characters are not supported
      default -> out.add(new StringText("\\" + c)); // Python keeps an unknown escape as written
    }
  }

  private void startCode(int radix, int length) {
    codeRadix = radix;
    codeLength = length;
    mode = Mode.CODE;
  }

  private void code(char c, List<Token> out) {
    if (Character.digit(c, codeRadix) >= 0 && c < 128) {
      code.append(c);
      if (code.length() == codeLength) {
        decodeCode(out);
      }
      return;
    }
    if (codeRadix == 8) { // an octal escape may be shorter
      decodeCode(out);
      if (mode == Mode.STRING) {
        string(c, out);
      }
      return;
    }
    mode = Mode.FAILED; // hexadecimal escapes need all their digits
  }

  private void decodeCode(List<Token> out) {
    int cp = Integer.parseInt(code.toString(), codeRadix);
    if (!Character.isValidCodePoint(cp)) {
      mode = Mode.FAILED;
      return;
    }
    out.add(new StringText(new String(Character.toChars(cp))));
    mode = Mode.STRING;
  }

  private static boolean isNameChar(char c) {
    return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_';
  }
}
