package io.llavaserve.web.openai.toolparsers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Mistral v11 answers ([TOOL_CALLS]name[ARGS]{...}) read whole and split at every point. */
class MistralV11ToolParserTest {

  static final ParserRun AUTO = new ParserRun(ToolCallFormat.MISTRAL_V11, false);
  static final ParserRun FORCED = new ParserRun(ToolCallFormat.MISTRAL_V11, true);

  static final String WEATHER =
      "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"O]slo\", \"days\": [1, 2]}";
  static final String TIME = "[TOOL_CALLS]get_time[ARGS]{\"tz\":\"utc\"}";

  @Test
  void eachMarkerNameAndArgumentsBecomeACallWithTheArgumentsAsWritten() {
    ToolParser.Parsed p = AUTO.parse(WEATHER + TIME);
    assertNull(p.content());
    assertEquals(
        List.of("get_weather", "get_time"), p.calls().stream().map(c -> c.name()).toList());
    assertEquals("{\"city\": \"O]slo\", \"days\": [1, 2]}", p.calls().get(0).arguments());
    assertEquals("{\"tz\":\"utc\"}", p.calls().get(1).arguments());
    assertEquals(
        "[call 0 get_weather]{\"city\": \"O]slo\", \"days\": [1, 2]}[call 1 get_time]{\"tz\":\"utc\"}",
        AUTO.sameAtEverySplit(WEATHER + "\n" + TIME + "\n"));
  }

  @Test
  void aCallIdBetweenTheNameAndTheArgumentsIsSkipped() {
    String text =
        "[TOOL_CALLS]get_time[CALL_ID]a1B2c3D4e[ARGS]{\"tz\": \"utc\"}"
            + "[TOOL_CALLS]get_weather[CALL_ID]Z9y8X7w6v[ARGS] {\"city\": \"Rome\"}";
    assertEquals(
        "[call 0 get_time]{\"tz\": \"utc\"}[call 1 get_weather]{\"city\": \"Rome\"}",
        AUTO.sameAtEverySplit(text));
    ToolParser.Parsed p =
        ToolParser.parse(
            ToolParser.of(ToolCallFormat.MISTRAL_V11, ParserRun.NAMES, false, ToolCallIds.MISTRAL),
            text);
    assertTrue(p.calls().get(0).id().matches("[A-Za-z0-9]{9}"), p.calls().get(0).id());
    assertTrue(!p.calls().get(0).id().equals("a1B2c3D4e"), "the answer's ids are its own");
  }

  @Test
  void textBeforeTheFirstMarkerAndAfterACallIsContent() {
    assertEquals(
        "[content Let me check. ][call 0 get_time]{\"tz\":\"utc\"}[content  Done.]"
            + "[call 1 get_weather]{\"city\": \"O]slo\", \"days\": [1, 2]}",
        AUTO.sameAtEverySplit("Let me check. " + TIME + " Done." + WEATHER));
  }

  @Test
  void whatIsNotACallStaysContentWordForWord() {
    String[] texts = {
      "No calls [TOOL maybe] {\"a\": 1}",
      "[TOOL_CALLS] hello", // no name
      "[TOOL_CALLS]get_time", // no arguments
      "[TOOL_CALLS]get_news[ARGS]{}", // undeclared
      "[TOOL_CALLS]get time[ARGS]{}", // not a name
      "[TOOL_CALLS][ARGS]{}", // no name at all
      "[TOOL_CALLS]get_time[ARGS][1]", // not an object
      "[TOOL_CALLS]get_time[ARGS]{\"tz\": }", // bad JSON
      "[TOOL_CALLS]get_time[ARGS]{\"tz\": \"u", // never closed
      "[TOOL_CALLS]get_time[CALL_ID]a b[ARGS]{}", // an id with a space
      "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]", // the earlier form
      "Almost [TOOL_CA", // the start of the marker
      "[TOOL_CALLS]get_time[AR", // the start of [ARGS]
    };
    for (String text : texts) {
      ToolParser.Parsed p = AUTO.parse(text);
      assertEquals(text, p.content(), text);
      assertTrue(p.calls().isEmpty(), text);
      assertEquals("[content " + text + "]", AUTO.sameAtEverySplit(text), text);
    }
  }

  @Test
  void aBadCallAfterAGoodOneIsContentFromItsMarkerOn() {
    assertEquals(
        "[call 0 get_time]{\"tz\":\"utc\"}[content  [TOOL_CALLS]get_news[ARGS]{}]",
        AUTO.sameAtEverySplit(TIME + " [TOOL_CALLS]get_news[ARGS]{}"));
    ToolParser.Parsed p = AUTO.parse(TIME + "[TOOL_CALLS]get_wea");
    assertEquals(1, p.calls().size());
    assertEquals("[TOOL_CALLS]get_wea", p.content());
  }

  @Test
  void forcedCallsStreamTheirArgumentsAsTheyCome() {
    String text =
        " [TOOL_CALLS]get_weather[ARGS]{\"city\": \"O}]\\\"slo\"}[TOOL_CALLS]get_time[ARGS]{}";
    assertEquals(
        "[call 0 get_weather]{\"city\": \"O}]\\\"slo\"}[call 1 get_time]{}",
        FORCED.sameAtEverySplit(text));
    ToolParser s = FORCED.parser();
    List<ToolParser.Piece> first = s.feed("[TOOL_CALLS]get_time[ARGS]{\"a");
    assertEquals(2, first.size(), "" + first);
    assertEquals("get_time", ((ToolParser.CallStart) first.get(0)).name());
    assertEquals(new ToolParser.Arguments(0, "{\"a"), first.get(1));
    ToolParser waits = FORCED.parser();
    assertTrue(waits.feed("[TOOL_CALLS]get_ti").isEmpty(), "a name starts once it is whole");
    assertEquals(2, waits.feed("me[ARGS]{}").size());
    ToolParser.Parsed cut = FORCED.parse("[TOOL_CALLS]get_weather[ARGS]{\"c");
    assertEquals("{\"c", cut.calls().get(0).arguments());
    assertNull(cut.content());
  }
}
