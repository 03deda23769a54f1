package io.llavaserve.web.openai.toolparsers;

import java.math.BigInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Python's number literals as JSON numbers of the same value: integers in any base, with
 * underscores, and floats JSON cannot read as written ({@code .5}, {@code 5.}).
 */
final class PythonNumbers {

  private static final String DIGITS = "[0-9](?:_?[0-9])*";
  private static final Pattern DECIMAL = Pattern.compile("[1-9](?:_?[0-9])*|0(?:_?0)*");
  private static final Pattern RADIX =
      Pattern.compile("0(?:[xX]((?:_?[0-9a-fA-F])+)|[oO]((?:_?[0-7])+)|[bB]((?:_?[01])+))");
  private static final Pattern FLOAT =
      Pattern.compile(
          "(?:(?<whole>"
              + DIGITS
              + ")?\\.(?<fraction>"
              + DIGITS
              + ")|(?<before>"
              + DIGITS
              + ")\\.)(?<exponent>[eE][+-]?"
              + DIGITS
              + ")?|(?<digits>"
              + DIGITS
              + ")(?<power>[eE][+-]?"
              + DIGITS
              + ")");

  private PythonNumbers() {}

  /** An integer literal's decimal digits, or null when {@code text} is not one. */
  static String integer(String text) {
    if (DECIMAL.matcher(text).matches()) {
      return new BigInteger(text.replace("_", "")).toString();
    }
    Matcher m = RADIX.matcher(text);
    if (!m.matches()) {
      return null;
    }
    int radix = m.group(1) != null ? 16 : m.group(2) != null ? 8 : 2;
    String digits = m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3);
    return new BigInteger(digits.replace("_", ""), radix).toString();
  }

  /**
   * A Python number literal as a JSON number of the same value, or null when {@code text} is not
   * one: integers in decimal, floats as written where JSON can read them ({@code 2.5e3}), else with
   * the zero JSON needs before or after the point ({@code .5} as {@code 0.5}, {@code 5.} as {@code
   * 5.0}), without underscores.
   */
  static String json(String text) {
    String integer = integer(text);
    if (integer != null) {
      return integer;
    }
    Matcher m = FLOAT.matcher(text);
    if (!m.matches()) {
      return null; // an imaginary number, a name after a point, leading zeros
    }
    String whole;
    String fraction;
    String exponent;
    if (m.group("digits") != null) { // 1e5
      whole = m.group("digits");
      fraction = null;
      exponent = m.group("power");
    } else {
      whole = m.group("whole") != null ? m.group("whole") : m.group("before");
      fraction =
          m.group("fraction") != null
              ? m.group("fraction")
              : m.group("before") != null ? "0" : null;
      exponent = m.group("exponent");
    }
    exponent = exponent == null ? "" : exponent.replace("_", "");
    String digits = whole == null ? "0" : new BigInteger(whole.replace("_", "")).toString();
    return digits + (fraction == null ? "" : "." + fraction.replace("_", "")) + exponent;
  }
}
