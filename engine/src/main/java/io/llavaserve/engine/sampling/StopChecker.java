package io.llavaserve.engine.sampling;

import java.util.List;

/**
 * Finds stop strings in streamed text. Each decoded piece is appended; the checker returns the text
 * that can be emitted now and holds back the longest tail that could still grow into a stop string,
 * so a client never sees part of a stop string. The stop string itself and everything after it are
 * never emitted. When generation ends for another reason, {@link #flush} releases the held-back
 * tail.
 *
 * <p>When several stop strings occur, the one that starts first wins (the longest, if two start at
 * the same place), since the text before it is what the model produced before stopping.
 */
public final class StopChecker {

  /**
   * What one append produced.
   *
   * @param text text safe to emit now, possibly empty
   * @param stopString the stop string that matched, or {@code null} while generation goes on
   */
  public record Chunk(String text, String stopString) {
    public boolean stopped() {
      return stopString != null;
    }
  }

  private final List<String> stops;
  private final int longest;
  private final StringBuilder held = new StringBuilder();
  private String matched;

  public StopChecker(List<String> stops) {
    this.stops = List.copyOf(stops);
    int max = 0;
    for (String s : this.stops) {
      if (s.isEmpty()) {
        throw new IllegalArgumentException("stop: every stop string must be non-empty");
      }
      max = Math.max(max, s.length());
    }
    this.longest = max;
  }

  /** Whether a stop string has matched; later appends return nothing. */
  public boolean stopped() {
    return matched != null;
  }

  /** Appends a decoded piece and returns what may be emitted. */
  public Chunk append(String piece) {
    if (matched != null) {
      return new Chunk("", matched);
    }
    if (stops.isEmpty()) {
      return new Chunk(piece, null);
    }
    held.append(piece);
    int at = -1;
    String found = null;
    for (String s : stops) {
      int i = held.indexOf(s);
      if (i >= 0 && (at < 0 || i < at || (i == at && s.length() > found.length()))) {
        at = i;
        found = s;
      }
    }
    if (found != null) {
      matched = found;
      String text = held.substring(0, at);
      held.setLength(0);
      return new Chunk(text, found);
    }
    int keep = partialMatchLength();
    String text = held.substring(0, held.length() - keep);
    held.delete(0, held.length() - keep);
    return new Chunk(text, null);
  }

  /** Releases the held-back tail at the end of generation; empty after a stop string. */
  public String flush() {
    String text = held.toString();
    held.setLength(0);
    return text;
  }

  /** Length of the longest suffix of the held text that is a proper prefix of a stop string. */
  private int partialMatchLength() {
    int n = held.length();
    for (int k = Math.min(n, longest - 1); k > 0; k--) {
      for (String s : stops) {
        if (s.length() > k && regionEquals(held, n - k, s, k)) {
          return k;
        }
      }
    }
    return 0;
  }

  private static boolean regionEquals(StringBuilder text, int from, String s, int length) {
    for (int i = 0; i < length; i++) {
      if (text.charAt(from + i) != s.charAt(i)) {
        return false;
      }
    }
    return true;
  }
}
