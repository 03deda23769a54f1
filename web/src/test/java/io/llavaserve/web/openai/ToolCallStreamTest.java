package io.llavaserve.web.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Answers read into content and calls, whole and in pieces of every size. */
class ToolCallStreamTest {

  static final Set<String> NAMES = Set.of("get_weather", "get_time");

  static ToolCallStream.Parsed auto(String text) {
    return ToolCallStream.parse(NAMES, false, text);
  }

  /** The pieces of {@code text} fed in random slices, joined back as a whole answer would be. */
  static String streamed(String text, boolean forced, long seed) {
    ToolCallStream s = new ToolCallStream(NAMES, forced);
    Random random = new Random(seed);
    List<ToolCallStream.Piece> pieces = new ArrayList<>();
    for (int i = 0; i < text.length(); ) {
      int n = 1 + random.nextInt(4);
      pieces.addAll(s.feed(text.substring(i, Math.min(text.length(), i + n))));
      i += n;
    }
    pieces.addAll(s.finish());
    StringBuilder out = new StringBuilder();
    for (ToolCallStream.Piece p : pieces) {
      if (p instanceof ToolCallStream.Content c) {
        out.append("[content ").append(c.text()).append(']');
      } else if (p instanceof ToolCallStream.CallStart c) {
        out.append("[call ").append(c.index()).append(' ').append(c.name()).append(']');
      } else if (p instanceof ToolCallStream.Arguments a) {
        out.append(a.fragment());
      }
    }
    return out.toString().replace("][content ", "");
  }

  @Test
  void textWithoutBlocksIsContentAsItIs() {
    ToolCallStream.Parsed p = auto("It is sunny. <tool maybe> 3 < 4");
    assertEquals("It is sunny. <tool maybe> 3 < 4", p.content());
    assertTrue(p.calls().isEmpty());
  }

  @Test
  void blocksNamingDeclaredToolsBecomeCallsWithTheArgumentsAsWritten() {
    ToolCallStream.Parsed p =
        auto(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\","
                + " \"days\": [1, 2]}}\n</tool_call>\n<tool_call>{\"name\":\"get_time\","
                + "\"arguments\":{}}</tool_call>");
    assertNull(p.content());
    assertEquals(2, p.calls().size());
    assertEquals("get_weather", p.calls().get(0).name());
    assertEquals("{\"city\": \"Oslo\", \"days\": [1, 2]}", p.calls().get(0).arguments());
    assertEquals("{}", p.calls().get(1).arguments());
    assertTrue(p.calls().get(0).id().matches("call_[A-Za-z0-9]{24}"));
    assertTrue(!p.calls().get(0).id().equals(p.calls().get(1).id()));
  }

  @Test
  void textAroundCallsStaysContent() {
    ToolCallStream.Parsed p =
        auto(
            "Let me look. <tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"}\"}}"
                + "</tool_call> Done.");
    assertEquals("Let me look.  Done.", p.content());
    assertEquals("{\"tz\": \"}\"}", p.calls().get(0).arguments());
  }

  @Test
  void malformedBlocksStayContentWordForWord() {
    String[] texts = {
      "<tool_call>{\"name\": \"get_news\", \"arguments\": {}}</tool_call>", // undeclared
      "<tool_call>{\"name\": \"get_time\", \"arguments\": {</tool_call>", // not JSON
      "<tool_call>{\"name\": \"get_time\", \"arguments\": [1]}</tool_call>", // not an object
      "<tool_call>{\"name\": \"get_time\"}</tool_call>", // no arguments
      "<tool_call>{\"name\": \"get_time\", \"arguments\": {}", // never closed
      "Almost <tool_ca" // the start of a tag, never finished
    };
    for (String text : texts) {
      ToolCallStream.Parsed p = auto(text);
      assertEquals(text, p.content(), text);
      assertTrue(p.calls().isEmpty(), text);
    }
  }

  @Test
  void argumentsWrittenAsAJsonStringAreTheStringsText() {
    ToolCallStream.Parsed p =
        auto("<tool_call>{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": 1}\"}</tool_call>");
    assertEquals("{\"tz\":1}", p.calls().get(0).arguments());
  }

  @Test
  void streamingInPiecesGivesWhatTheWholeTextGives() {
    String[] texts = {
      "Hi <tool_call>{\"name\": \"get_time\", \"arguments\": {\"a\": \"<tool_call>\"}}</tool_call>",
      "<tool_call>{\"name\": \"get_news\", \"arguments\": {}}</tool_call> and <b>",
      "a <tool_c",
      "no calls at all"
    };
    for (String text : texts) {
      String whole = streamed(text, false, Long.MAX_VALUE); // slices, but compare across seeds
      for (long seed = 0; seed < 20; seed++) {
        assertEquals(whole, streamed(text, false, seed), text);
      }
    }
    assertEquals(
        "[content Hi ][call 0 get_time]{\"a\": \"<tool_call>\"}",
        streamed(
            "Hi <tool_call>{\"name\": \"get_time\", \"arguments\": {\"a\": \"<tool_call>\"}}"
                + "</tool_call>",
            false,
            1));
    assertEquals("[content a <tool_c]", streamed("a <tool_c", false, 3));
  }

  @Test
  void forcedCallsStreamTheirArgumentsAsTheyCome() {
    String text =
        " <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"O}\\\"slo\","
            + " \"n\": [1, {\"x\": null}]}}\n</tool_call>\n<tool_call>{\"name\":\"get_time\","
            + "\"arguments\":{}}</tool_call>";
    String expected =
        "[call 0 get_weather]{\"city\": \"O}\\\"slo\", \"n\": [1, {\"x\": null}]}"
            + "[call 1 get_time]{}";
    for (long seed = 0; seed < 20; seed++) {
      assertEquals(expected, streamed(text, true, seed));
    }
    ToolCallStream s = new ToolCallStream(NAMES, true);
    List<ToolCallStream.Piece> first =
        s.feed("<tool_call>{\"name\": \"get_time\", \"arguments\": {\"a");
    assertEquals(2, first.size(), "the call starts before its arguments end: " + first);
    assertEquals(new ToolCallStream.Arguments(0, "{\"a"), first.get(1));
    ToolCallStream.Parsed whole = ToolCallStream.parse(NAMES, true, text);
    assertNull(whole.content());
    assertEquals("{}", whole.calls().get(1).arguments());
  }

  @Test
  void aForcedCallCutShortKeepsWhatThereIsOfItsArguments() {
    ToolCallStream.Parsed p =
        ToolCallStream.parse(
            NAMES, true, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Os");
    assertEquals("{\"city\": \"Os", p.calls().get(0).arguments());
  }
}
