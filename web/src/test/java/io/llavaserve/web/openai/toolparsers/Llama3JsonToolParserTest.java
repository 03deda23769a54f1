package io.llavaserve.web.openai.toolparsers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ToolCallFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Llama 3 JSON answers read into content and calls, whole and split at every point. */
class Llama3JsonToolParserTest {

  static final ParserRun AUTO = new ParserRun(ToolCallFormat.LLAMA3_JSON, false);
  static final ParserRun FORCED = new ParserRun(ToolCallFormat.LLAMA3_JSON, true);

  static final String WEATHER =
      "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"days\": [1, 2]}}";
  static final String TIME = "{\"name\":\"get_time\",\"arguments\":{\"tz\":\"a;}{b\"}}";

  @Test
  void anAnswerThatIsACallBecomesOneWithTheParametersAsWritten() {
    ToolParser.Parsed p = AUTO.parse(WEATHER);
    assertNull(p.content());
    assertEquals(1, p.calls().size());
    assertEquals("get_weather", p.calls().get(0).name());
    assertEquals("{\"city\": \"Oslo\", \"days\": [1, 2]}", p.calls().get(0).arguments());
    assertTrue(p.calls().get(0).id().matches("call_[A-Za-z0-9]{24}"));
    assertEquals(
        "[call 0 get_weather]{\"city\": \"Oslo\", \"days\": [1, 2]}",
        AUTO.sameAtEverySplit("\n " + WEATHER + "\n"));
  }

  @Test
  void callsSeparatedBySemicolonsAfterThePythonTagAndTextBeforeTheTag() {
    assertEquals(
        "[call 0 get_weather]{\"city\": \"Oslo\", \"days\": [1, 2]}[call 1 get_time]{\"tz\":\"a;}{b\"}",
        AUTO.sameAtEverySplit(WEATHER + "; " + TIME));
    assertEquals(
        "[call 0 get_time]{\"tz\":\"a;}{b\"}[call 1 get_weather]{\"city\": \"Oslo\", \"days\":"
            + " [1, 2]}",
        AUTO.sameAtEverySplit("<|python_tag|>" + TIME + " ;\n" + WEATHER));
    assertEquals(
        "[content Let me look.][call 0 get_time]{\"tz\":\"a;}{b\"}",
        AUTO.sameAtEverySplit("Let me look.<|python_tag|> " + TIME));
    ToolParser.Parsed p = AUTO.parse("Let me look.<|python_tag|>" + TIME + ";" + WEATHER);
    assertEquals("Let me look.", p.content());
    assertEquals(
        List.of("get_time", "get_weather"), p.calls().stream().map(c -> c.name()).toList());
    assertTrue(!p.calls().get(0).id().equals(p.calls().get(1).id()));
  }

  @Test
  void textAfterTheCallsStaysContent() {
    assertEquals(
        "[call 0 get_time]{\"tz\":\"a;}{b\"}[content \nThat is all.]",
        AUTO.sameAtEverySplit(TIME + "\nThat is all."));
    assertEquals(
        "[call 0 get_time]{\"tz\":\"a;}{b\"}[content ; and more]",
        AUTO.sameAtEverySplit(TIME + "; and more"));
  }

  @Test
  void whatIsNotACallStaysContentWordForWord() {
    String[] texts = {
      "It is sunny; {\"name\": \"get_time\", \"parameters\": {}}", // a call only opens the answer
      "{\"name\": \"get_news\", \"parameters\": {}}", // undeclared
      "{\"answer\": 42}", // not a call
      "{\"name\": \"get_time\", \"parameters\": [1]}", // not an object
      "{\"name\": \"get_time\", \"parameters\": {}, \"arguments\": {}}", // both
      "{\"name\": \"get_time\", \"parameters\": {}, \"extra\": 1}", // another key
      "{\"name\": \"get_time\", \"parameters\": {\"tz\": ", // never closed
      "{\"name\": \"get_time\", \"parameters\": {]}", // not JSON
      "<|python_tag|>brave_search.call(query=\"x\")", // a built-in tool, not JSON
      "Almost <|python_ta", // the start of the tag
      "<|python_tag|> ", // the tag alone
    };
    for (String text : texts) {
      ToolParser.Parsed p = AUTO.parse(text);
      assertEquals(text, p.content(), text);
      assertTrue(p.calls().isEmpty(), text);
      assertEquals("[content " + text + "]", AUTO.sameAtEverySplit(text), text);
    }
  }

  @Test
  void aBuiltInToolsPythonCallAfterTheTagIsACallOfThatDeclaredFunction() {
    // Llama 3.1 calls its built-in tools as name.call(...) after the tag; <|eom_id|> is a stop.
    assertEquals(
        "[call 0 get_time]{\"tz\": \"utc\", \"days\": [1, 2]}",
        AUTO.sameAtEverySplit("<|python_tag|>get_time.call(tz=\"utc\", days=[1, 2])"));
    assertEquals(
        "[content Searching.][call 0 get_weather]{\"city\": \"Oslo (NO)\"}",
        AUTO.sameAtEverySplit("Searching.<|python_tag|> get_weather.call(city=\"Oslo (NO)\")\n"));
    ToolParser.Parsed p = AUTO.parse("<|python_tag|>get_time.call(tz=\"utc\")");
    assertNull(p.content());
    assertEquals("get_time", p.calls().get(0).name());
    for (String text :
        List.of(
            "<|python_tag|>get_time.call(tz=utc)", // a variable, not a literal
            "<|python_tag|>get_time.call(\"utc\")", // positional
            "<|python_tag|>get_time.call(tz=\"utc\") and more", // text after the call
            "<|python_tag|>get_time.call(tz=\"utc\"", // never closed
            "<|python_tag|>get_time.cal", // cut short
            "<|python_tag|>import math\nprint(math.pi)")) { // code, not a call
      assertEquals("[content " + text + "]", AUTO.sameAtEverySplit(text), text);
    }
  }

  @Test
  void aBadCallAfterAGoodOneIsContentFromItsSeparatorOn() {
    String text = TIME + "; {\"name\": \"get_news\", \"parameters\": {}} ok";
    assertEquals(
        "[call 0 get_time]{\"tz\":\"a;}{b\"}[content ; {\"name\": \"get_news\", \"parameters\":"
            + " {}} ok]",
        AUTO.sameAtEverySplit(text));
  }

  @Test
  void argumentsWrittenAsAJsonStringAreTheStringsObject() {
    ToolParser.Parsed p =
        AUTO.parse("{\"name\": \"get_time\", \"parameters\": \"{\\\"tz\\\": \\\"utc\\\"}\"}");
    assertEquals("{\"tz\":\"utc\"}", p.calls().get(0).arguments());
  }

  @Test
  void forcedCallsStreamTheirParametersAsTheyCome() {
    String text =
        "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"O}\\\"slo\", \"n\": [1, {\"x\":"
            + " null}]}} ;\n{\"name\":\"get_time\",\"parameters\":{}}";
    assertEquals(
        "[call 0 get_weather]{\"city\": \"O}\\\"slo\", \"n\": [1, {\"x\": null}]}"
            + "[call 1 get_time]{}",
        FORCED.sameAtEverySplit(text));
    ToolParser s = FORCED.parser();
    List<ToolParser.Piece> first = s.feed("{\"name\": \"get_time\", \"parameters\": {\"a");
    assertEquals(
        List.of(new ToolParser.Arguments(0, "{\"a")), first.subList(1, first.size()), "" + first);
    assertTrue(first.get(0) instanceof ToolParser.CallStart c && c.name().equals("get_time"));
    ToolParser.Parsed cut =
        FORCED.parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Os");
    assertEquals("{\"city\": \"Os", cut.calls().get(0).arguments());
    assertNull(cut.content());
  }
}
