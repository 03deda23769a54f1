package io.llavaserve.engine.prompt;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * Python's {@code strftime} in the C locale, for the directives chat templates use ({@code "%d %b
 * %Y"} in Llama 3.2's): {@code %a %A %b %B %d %m %y %Y %H %I %M %S %p %j %%}; any other directive
 * is written as it is, as glibc does.
 */
final class Strftime {

  private Strftime() {}

  static String format(LocalDateTime t, String format) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 == format.length()) {
        out.append(c);
        continue;
      }
      char d = format.charAt(++i);
      out.append(
          switch (d) {
            case 'a' -> pattern(t, "EEE");
            case 'A' -> pattern(t, "EEEE");
            case 'b' -> pattern(t, "MMM");
            case 'B' -> pattern(t, "MMMM");
            case 'd' -> pattern(t, "dd");
            case 'm' -> pattern(t, "MM");
            case 'y' -> pattern(t, "yy");
            case 'Y' -> String.valueOf(t.getYear());
            case 'H' -> pattern(t, "HH");
            case 'I' -> pattern(t, "hh");
            case 'M' -> pattern(t, "mm");
            case 'S' -> pattern(t, "ss");
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'j' -> String.format("%03d", t.getDayOfYear());
            case '%' -> "%";
            default -> "%" + d;
          });
    }
    return out.toString();
  }

  private static String pattern(LocalDateTime t, String pattern) {
    return DateTimeFormatter.ofPattern(pattern, Locale.US).format(t);
  }
}
