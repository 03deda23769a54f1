package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StopCheckerTest {

  /** Feeds the pieces and returns each append's text, then the flush (or "" after a stop). */
  private static List<String> stream(StopChecker checker, String... pieces) {
    List<String> out = new ArrayList<>();
    for (String piece : pieces) {
      out.add(checker.append(piece).text());
    }
    out.add(checker.flush());
    return out;
  }

  @Test
  void stopStringSpanningSeveralPiecesIsNeverEmitted() {
    StopChecker c = new StopChecker(List.of("</s>"));
    assertEquals(List.of("Hello ", "", "", ""), stream(c, "Hello <", "/", "s> world"));
    assertTrue(c.stopped());
  }

  @Test
  void heldBackTextIsReleasedOnceItCannotBeAStop() {
    StopChecker c = new StopChecker(List.of("STOP"));
    assertEquals(List.of("", "", "STOX", "!", ""), stream(c, "S", "T", "OX", "!"));
    assertFalse(c.stopped());
  }

  @Test
  void overlappingPrefixesHoldOnlyTheLongestPossibleStart() {
    StopChecker c = new StopChecker(List.of("aab"));
    assertEquals(List.of("", "", "a", "", ""), stream(c, "a", "a", "a", "b"));
    assertTrue(c.stopped());

    c = new StopChecker(List.of("abab"));
    // "aba" could start "abab"; then "abaabab" matches at 3, so only "aba" is emitted.
    assertEquals(List.of("", "aba", ""), stream(c, "aba", "abab"));
    assertTrue(c.stopped());
  }

  @Test
  void stopAtTheVeryStartEmitsNothing() {
    StopChecker c = new StopChecker(List.of("Hi"));
    StopChecker.Chunk chunk = c.append("Hi there");
    assertEquals("", chunk.text());
    assertEquals("Hi", chunk.stopString());
    assertEquals("", c.flush());
  }

  @Test
  void theEarliestOfSeveralStopStringsWins() {
    StopChecker c = new StopChecker(List.of("world", "lo w"));
    StopChecker.Chunk chunk = c.append("hello world");
    assertEquals("hel", chunk.text());
    assertEquals("lo w", chunk.stopString());

    c = new StopChecker(List.of("ab", "abc"));
    chunk = c.append("xabcd");
    assertEquals("x", chunk.text());
    assertEquals("abc", chunk.stopString());
  }

  @Test
  void piecesAfterAStopAreDropped() {
    StopChecker c = new StopChecker(List.of("\n"));
    assertEquals("one", c.append("one\ntwo").text());
    StopChecker.Chunk later = c.append("three");
    assertEquals("", later.text());
    assertTrue(later.stopped());
  }

  @Test
  void flushReleasesAPartialStopAtTheEnd() {
    StopChecker c = new StopChecker(List.of("###"));
    assertEquals(List.of("a", "", "##"), stream(c, "a#", "#"));
  }

  @Test
  void withoutStopStringsPiecesPassThrough() {
    StopChecker c = new StopChecker(List.of());
    StopChecker.Chunk chunk = c.append("abc");
    assertEquals("abc", chunk.text());
    assertNull(chunk.stopString());
  }

  @Test
  void rejectsAnEmptyStopString() {
    assertThrows(IllegalArgumentException.class, () -> new StopChecker(List.of("")));
  }

  /**
   * Random texts cut into random pieces: what is emitted is always a prefix of the final output,
   * and the final output is the text up to the earliest match within the shortest prefix (at a
   * piece boundary) that contains a stop string, or the whole text.
   */
  @Test
  void streamingAgreesWithAWholeTextReference() {
    Random r = new Random(17);
    for (int trial = 0; trial < 2000; trial++) {
      String text = randomString(r, 1 + r.nextInt(30));
      List<String> stops = new ArrayList<>();
      for (int i = 1 + r.nextInt(3); i > 0; i--) {
        stops.add(randomString(r, 1 + r.nextInt(4)));
      }
      List<String> pieces = new ArrayList<>();
      for (int i = 0; i < text.length(); ) {
        int len = Math.min(text.length() - i, 1 + r.nextInt(4));
        pieces.add(text.substring(i, i + len));
        i += len;
      }

      String expected = text;
      int seen = 0;
      for (String piece : pieces) {
        seen += piece.length();
        String prefix = text.substring(0, seen);
        int at = Integer.MAX_VALUE;
        for (String s : stops) {
          int i = prefix.indexOf(s);
          if (i >= 0) {
            at = Math.min(at, i);
          }
        }
        if (at != Integer.MAX_VALUE) {
          expected = text.substring(0, at);
          break;
        }
      }

      StopChecker c = new StopChecker(stops);
      StringBuilder emitted = new StringBuilder();
      for (String piece : pieces) {
        emitted.append(c.append(piece).text());
        assertTrue(expected.startsWith(emitted.toString()), "trial " + trial);
      }
      emitted.append(c.flush());
      assertEquals(expected, emitted.toString(), "trial " + trial + " " + stops + " " + pieces);
    }
  }

  private static String randomString(Random r, int length) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < length; i++) {
      b.append((char) ('a' + r.nextInt(3)));
    }
    return b.toString();
  }
}
