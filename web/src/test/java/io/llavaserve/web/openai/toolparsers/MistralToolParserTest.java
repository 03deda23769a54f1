package io.llavaserve.web.openai.toolparsers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Mistral answers read into content and calls, whole and split at every point. */
class MistralToolParserTest {

  static final ParserRun AUTO = new ParserRun(ToolCallFormat.MISTRAL, false);
  static final ParserRun FORCED = new ParserRun(ToolCallFormat.MISTRAL, true);

  static final String WEATHER =
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"O]slo\", \"days\": [1, 2]}}";
  static final String TIME =
      "{\"name\":\"get_time\",\"arguments\":{\"tz\":\"utc\"},\"id\":\"a1B2c3D4e\"}";

  @Test
  void theMarkerAndAnArrayOfCallsBecomeCallsWithTheArgumentsAsWritten() {
    ToolParser.Parsed p = AUTO.parse("[TOOL_CALLS] [" + WEATHER + ", " + TIME + "]");
    assertNull(p.content());
    assertEquals(
        List.of("get_weather", "get_time"), p.calls().stream().map(c -> c.name()).toList());
    assertEquals("{\"city\": \"O]slo\", \"days\": [1, 2]}", p.calls().get(0).arguments());
    assertEquals("{\"tz\":\"utc\"}", p.calls().get(1).arguments());
    assertEquals(
        "[call 0 get_weather]{\"city\": \"O]slo\", \"days\": [1, 2]}[call 1 get_time]{\"tz\":\"utc\"}",
        AUTO.sameAtEverySplit("[TOOL_CALLS][ " + WEATHER + ",\n" + TIME + " ]"));
  }

  @Test
  void textBeforeTheMarkerAndAfterTheArrayIsContentAndAnotherMarkerCallsAgain() {
    assertEquals(
        "[content Let me check. ][call 0 get_weather]{\"city\": \"O]slo\", \"days\": [1, 2]}"
            + "[content  Done.][call 1 get_time]{\"tz\":\"utc\"}",
        AUTO.sameAtEverySplit(
            "Let me check. [TOOL_CALLS][" + WEATHER + "] Done.[TOOL_CALLS] [" + TIME + "]"));
  }

  @Test
  void whatIsNotACallStaysContentWordForWord() {
    String[] texts = {
      "No calls [TOOL maybe] [1, 2]",
      "[TOOL_CALLS] hello", // no array
      "[TOOL_CALLS][]", // an empty one
      "[TOOL_CALLS] [{\"name\": \"get_news\", \"arguments\": {}}]", // undeclared
      "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": [1]}]", // not an object
      "[TOOL_CALLS][{\"name\": \"get_time\", \"parameters\": {}}]", // Llama's key
      "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"tz\": \"u", // never closed
      "[TOOL_CALLS][\"get_time\"]", // not an object
      "Almost [TOOL_CA", // the start of the marker
    };
    for (String text : texts) {
      ToolParser.Parsed p = AUTO.parse(text);
      assertEquals(text, p.content(), text);
      assertTrue(p.calls().isEmpty(), text);
      assertEquals("[content " + text + "]", AUTO.sameAtEverySplit(text), text);
    }
  }

  @Test
  void aBadElementAfterAGoodOneIsContentFromItsCommaOn() {
    assertEquals(
        "[call 0 get_time]{\"tz\":\"utc\"}[content , {\"name\": \"x\"}]]",
        AUTO.sameAtEverySplit("[TOOL_CALLS][" + TIME + ", {\"name\": \"x\"}]"));
    // An array cut short after a whole call keeps the call.
    ToolParser.Parsed p = AUTO.parse("[TOOL_CALLS][" + TIME + ", {\"name\": \"get_w");
    assertEquals(1, p.calls().size());
    assertEquals(", {\"name\": \"get_w", p.content());
  }

  @Test
  void mistralIdsAreNineLettersOrDigits() {
    ToolParser.Parsed p =
        ToolParser.parse(
            ToolParser.of(ToolCallFormat.MISTRAL, ParserRun.NAMES, false, ToolCallIds.MISTRAL),
            "[TOOL_CALLS][" + TIME + "]");
    assertTrue(p.calls().get(0).id().matches("[A-Za-z0-9]{9}"), p.calls().get(0).id());
  }

  @Test
  void forcedCallsStreamTheirArgumentsAsTheyCome() {
    String text =
        " [TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"O}]\\\"slo\"}},"
            + "\n{\"name\":\"get_time\",\"arguments\":{}} ]";
    assertEquals(
        "[call 0 get_weather]{\"city\": \"O}]\\\"slo\"}[call 1 get_time]{}",
        FORCED.sameAtEverySplit(text));
    ToolParser s = FORCED.parser();
    List<ToolParser.Piece> first =
        s.feed("[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"a");
    assertEquals(
        List.of(new ToolParser.Arguments(0, "{\"a")), first.subList(1, first.size()), "" + first);
    ToolParser.Parsed cut =
        FORCED.parse("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"c");
    assertEquals("{\"c", cut.calls().get(0).arguments());
  }
}
