package io.llavaserve.web.openai.toolparsers;

/** Text held back while it could still become a marker. */
final class Markers {

  private Markers() {}

  /**
   * The length of the longest end of {@code text} that {@code marker} starts with (not all of it).
   */
  static int heldBack(CharSequence text, String marker) {
    for (int n = Math.min(marker.length() - 1, text.length()); n > 0; n--) {
      if (marker.startsWith(text.subSequence(text.length() - n, text.length()).toString())) {
        return n;
      }
    }
    return 0;
  }

  /** How many whitespace characters {@code text} starts with. */
  static int leadingWhitespace(CharSequence text) {
    int i = 0;
    while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
      i++;
    }
    return i;
  }
}
