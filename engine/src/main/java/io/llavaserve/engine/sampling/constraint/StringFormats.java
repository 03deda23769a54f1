package io.llavaserve.engine.sampling.constraint;

import static io.llavaserve.engine.sampling.constraint.Grammar.ref;
import static io.llavaserve.engine.sampling.constraint.Grammar.seq;

/**
 * The string formats whose grammar is cheap (fixed-width fields of digits and hex): RFC 3339 {@code
 * date}, {@code time} and {@code date-time}, and {@code uuid}. Days run to 31 in every month: the
 * grammar checks the shape, not the calendar.
 */
final class StringFormats {

  private StringFormats() {}

  static int rule(JsonRules json, String format, String path) {
    Grammar.Builder b = json.b;
    int[] quote = b.literal("\"");
    return switch (format) {
      case "date" -> b.rule("date", seq(quote, date(json), quote));
      case "time" -> b.rule("time", seq(quote, time(json), quote));
      case "date-time" ->
          b.rule("date-time", seq(quote, date(json), json.chars("Tt"), time(json), quote));
      case "uuid" -> {
        int h = json.hex();
        int[] dash = b.literal("-");
        yield b.rule(
            "uuid",
            seq(
                quote,
                times(h, 8),
                dash,
                times(h, 4),
                dash,
                times(h, 4),
                dash,
                times(h, 4),
                dash,
                times(h, 12),
                quote));
      }
      default ->
          throw new SchemaException(
              path, "format '" + format + "' is not supported (date, time, date-time, uuid are)");
    };
  }

  /** {@code YYYY-MM-DD}, month 01-12, day 01-31. */
  private static int[] date(JsonRules json) {
    Grammar.Builder b = json.b;
    int d = json.digit();
    int month =
        b.rule(
            "month",
            seq(b.literal("0"), b.range('1', '9')),
            seq(b.literal("1"), b.range('0', '2')));
    int day =
        b.rule(
            "day",
            seq(b.literal("0"), b.range('1', '9')),
            seq(b.range('1', '2'), d),
            seq(b.literal("3"), b.range('0', '1')));
    return seq(d, d, d, d, b.literal("-"), ref(month), b.literal("-"), ref(day));
  }

  /** {@code HH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)}. */
  private static int[] time(JsonRules json) {
    Grammar.Builder b = json.b;
    int d = json.digit();
    int hour = b.rule("hour", seq(b.range('0', '1'), d), seq(b.literal("2"), b.range('0', '3')));
    int minute = b.range('0', '5');
    int fraction =
        json.optional(
            "fraction", seq(b.literal("."), ref(json.repeat("fdigits", new int[] {d}, 1, 9))));
    int offset =
        b.rule(
            "offset",
            new int[] {json.chars("Zz")},
            seq(json.chars("+-"), ref(hour), b.literal(":"), minute, d));
    return seq(
        ref(hour),
        b.literal(":"),
        minute,
        d,
        b.literal(":"),
        minute,
        d,
        ref(fraction),
        ref(offset));
  }

  private static int[] times(int element, int n) {
    int[] out = new int[n];
    java.util.Arrays.fill(out, element);
    return out;
  }
}
