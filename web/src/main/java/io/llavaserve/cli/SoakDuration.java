package io.llavaserve.cli;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;

/**
 * Durations as a person types them on the command line: {@code 90s}, {@code 10m}, {@code 1h},
 * {@code 1h30m}, {@code 500ms}; a bare number is seconds.
 */
final class SoakDuration implements ITypeConverter<Duration> {

  private static final Pattern PART = Pattern.compile("(\\d+)(ms|s|m|h)");
  private static final Pattern WHOLE = Pattern.compile("(\\d+(ms|s|m|h))+");

  @Override
  public Duration convert(String value) {
    return parse(value);
  }

  /** The duration {@code text} names; an {@link IllegalArgumentException} naming the forms. */
  static Duration parse(String text) {
    String t = text.strip().toLowerCase(java.util.Locale.ROOT);
    if (t.matches("\\d+")) {
      return Duration.ofSeconds(Long.parseLong(t));
    }
    if (!WHOLE.matcher(t).matches()) {
      throw new IllegalArgumentException(
          "not a duration: '" + text + "' (use e.g. 90s, 10m, 1h, 1h30m or 500ms)");
    }
    Duration d = Duration.ZERO;
    Matcher m = PART.matcher(t);
    while (m.find()) {
      long n = Long.parseLong(m.group(1));
      d =
          d.plus(
              switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
              });
    }
    return d;
  }

  /** {@code d} in the same forms: {@code 1h30m}, {@code 90s} as {@code 1m30s}, {@code 250ms}. */
  static String format(Duration d) {
    if (d.toMillis() % 1000 != 0) {
      return d.toMillis() + "ms";
    }
    long s = d.toSeconds();
    StringBuilder b = new StringBuilder();
    if (s >= 3600) {
      b.append(s / 3600).append('h');
    }
    if (s % 3600 >= 60) {
      b.append(s % 3600 / 60).append('m');
    }
    if (s % 60 != 0 || s == 0) {
      b.append(s % 60).append('s');
    }
    return b.toString();
  }
}
