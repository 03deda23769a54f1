package io.llavaserve.web.openai.toolparsers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ToolCallFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Hermes answers read into content and calls, whole and in pieces of every size. */
class HermesToolParserTest {

  static final ParserRun AUTO = new ParserRun(ToolCallFormat.HERMES, false);
  static final ParserRun FORCED = new ParserRun(ToolCallFormat.HERMES, true);

  static ToolParser.Parsed auto(String text) {
    return AUTO.parse(text);
  }

  @Test
  void textWithoutBlocksIsContentAsItIs() {
    ToolParser.Parsed p = auto("It is sunny. <tool maybe> 3 < 4");
    assertEquals("It is sunny. <tool maybe> 3 < 4", p.content());
    assertTrue(p.calls().isEmpty());
  }

  @Test
  void blocksNamingDeclaredToolsBecomeCallsWithTheArgumentsAsWritten() {
    ToolParser.Parsed p =
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
    ToolParser.Parsed p =
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
      ToolParser.Parsed p = auto(text);
      assertEquals(text, p.content(), text);
      assertTrue(p.calls().isEmpty(), text);
    }
  }

  @Test
  void argumentsWrittenAsAJsonStringAreTheStringsText() {
    ToolParser.Parsed p =
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
      AUTO.sameAtEverySplit(text);
    }
    assertEquals(
        "[content Hi ][call 0 get_time]{\"a\": \"<tool_call>\"}",
        AUTO.sameAtEverySplit(
            "Hi <tool_call>{\"name\": \"get_time\", \"arguments\": {\"a\": \"<tool_call>\"}}"
                + "</tool_call>"));
    assertEquals("[content a <tool_c]", AUTO.sameAtEverySplit("a <tool_c"));
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
    assertEquals(expected, FORCED.sameAtEverySplit(text));
    ToolParser s = FORCED.parser();
    List<ToolParser.Piece> first =
        s.feed("<tool_call>{\"name\": \"get_time\", \"arguments\": {\"a");
    assertEquals(2, first.size(), "the call starts before its arguments end: " + first);
    assertEquals(new ToolParser.Arguments(0, "{\"a"), first.get(1));
    ToolParser.Parsed whole = FORCED.parse(text);
    assertNull(whole.content());
    assertEquals("{}", whole.calls().get(1).arguments());
  }

  @Test
  void aForcedCallCutShortKeepsWhatThereIsOfItsArguments() {
    ToolParser.Parsed p =
        FORCED.parse("<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Os");
    assertEquals("{\"city\": \"Os", p.calls().get(0).arguments());
  }
}
