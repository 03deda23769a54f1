package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SoakChecksTest {

  private static final SoakChecks.Reference REF =
      new SoakChecks.Reference("abcd", List.of("a", "b", "c", "d"));

  private static BenchStats.Trace trace(int usage, String... tokens) {
    BenchStats.Recorder r = new BenchStats.Recorder();
    for (String t : tokens) {
      r.token(t, t);
    }
    r.usage(usage);
    return r.done();
  }

  @Test
  void theSameTokensTextAndUsageMatch() {
    assertNull(SoakChecks.compare(REF, trace(4, "a", "b", "c", "d")));
    assertNull(SoakChecks.compare(REF, trace(-1, "a", "b", "c", "d")), "no usage to compare");
  }

  @Test
  void namesEachWayAnAnswerCanGoWrong() {
    assertEquals("lost tokens", SoakChecks.compare(REF, trace(4, "a", "b", "d")));
    assertEquals("duplicated tokens", SoakChecks.compare(REF, trace(5, "a", "b", "b", "c", "d")));
    assertEquals("reordered tokens", SoakChecks.compare(REF, trace(4, "a", "c", "b", "d")));
    assertEquals("different tokens", SoakChecks.compare(REF, trace(4, "a", "b", "c", "e")));
    assertEquals(
        "usage.completion_tokens != tokens streamed",
        SoakChecks.compare(REF, trace(5, "a", "b", "c", "d")));
    BenchStats.Recorder r = new BenchStats.Recorder();
    for (String t : List.of("a", "b", "c", "d")) {
      r.token(t, t);
    }
    r.text("!"); // a tail the reference did not have
    assertEquals("different text", SoakChecks.compare(REF, r.done()));
  }

  @Test
  void aTokenFrameOutOfItsPlaceIsAReorder() {
    BenchStats.Recorder r = new BenchStats.Recorder();
    int[] indices = {0, 2, 1, 3};
    String[] keys = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
      r.token(keys[i], keys[i]);
      r.indexed(indices[i]);
    }
    BenchStats.Trace t = r.done();
    assertTrue(t.disorder().startsWith("token index 2 arrived as token 1"), t.disorder());
    assertEquals("reordered tokens", SoakChecks.compare(REF, t));
  }

  @Test
  void checkPromptsAreFixedBySeedAndAlternateTextAndImage() {
    SoakChecks a = new SoakChecks(3, 5, 4, true);
    SoakChecks b = new SoakChecks(3, 5, 4, true);
    assertEquals(4, a.prompts().size());
    for (int i = 0; i < 4; i++) {
      assertEquals(a.prompts().get(i).text(), b.prompts().get(i).text());
      assertEquals(i % 2 == 1, a.prompts().get(i).png() != null, "prompt " + i);
    }
    assertTrue(new SoakChecks(3, 5, 4, false).prompts().stream().allMatch(p -> p.png() == null));
  }

  @Test
  void wiresThatAnswerAloneDifferentlyAreReported() {
    SoakChecks c = new SoakChecks(1, 3, 1, false);
    c.reference(SoakClient.Wire.SSE, 0, trace(2, "x", "y"));
    BenchStats.Recorder ws = new BenchStats.Recorder(); // token ids as keys, the same text
    ws.token("7", "x");
    ws.token("8", "y");
    c.reference(SoakClient.Wire.WS, 0, ws.done());
    assertEquals(List.of(), c.disagreements(), "keys differ by wire; text and count agree");
    c.reference(SoakClient.Wire.JSON, 0, trace(1, "x"));
    assertEquals(1, c.disagreements().size());
    assertTrue(c.disagreements().get(0).contains("JSON 1 tokens \"x\""), c.disagreements().get(0));
  }
}
