package io.llavaserve.web.openai.toolparsers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ToolCallFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Pythonic answers ([f(a=1), g()]) read into calls with JSON arguments, whole and split. */
class PythonicToolParserTest {

  static final ParserRun AUTO = new ParserRun(ToolCallFormat.PYTHONIC, false);
  static final ParserRun FORCED = new ParserRun(ToolCallFormat.PYTHONIC, true);

  @Test
  void aListOfCallsBecomesCallsWithArgumentsAsJsonDumpsWritesThem() {
    String text = "[get_weather(city=\"Oslo\", days=[1, 2]), get_time()]";
    ToolParser.Parsed p = AUTO.parse(text);
    assertNull(p.content());
    assertEquals(
        List.of("get_weather", "get_time"), p.calls().stream().map(c -> c.name()).toList());
    assertEquals("{\"city\": \"Oslo\", \"days\": [1, 2]}", p.calls().get(0).arguments());
    assertEquals("{}", p.calls().get(1).arguments());
    assertEquals(
        "[call 0 get_weather]{\"city\": \"Oslo\", \"days\": [1, 2]}[call 1 get_time]{}",
        AUTO.sameAtEverySplit("\n [get_weather( city = 'Oslo' ,days=[1,2,] ,),\n get_time( )]\n"));
  }

  @Test
  void pythonLiteralsBecomeTheJsonValuesTheyMean() {
    String text =
        "[get_time(a='O\\'s\"lo', b=-1_000, c=0x1F, d=.5, e=5., f=+2.5E3, g=1e400, h=True,"
            + " i=None, j=False, k={'x': [None, 0o17], 3: \"\"}, l=\"\"\"a\"b\"\"\", m=r\"\\d\\\"\","
            + " n=\"\\u00e9\\U0001F600\\n\\t\\x41\\101\\q\", o=u'', p=[], q={}, r=0)]";
    assertEquals(
        "[call 0 get_time]{\"a\": \"O's\\\"lo\", \"b\": -1000, \"c\": 31, \"d\": 0.5, \"e\": 5.0,"
            + " \"f\": 2.5E3, \"g\": 1e400, \"h\": true, \"i\": null, \"j\": false,"
            + " \"k\": {\"x\": [null, 15], \"3\": \"\"}, \"l\": \"a\\\"b\", \"m\": \"\\\\d\\\\\\\"\","
            + " \"n\": \"é😀\\n\\tAA\\\\q\", \"o\": \"\", \"p\": [], \"q\": {}, \"r\": 0}",
        AUTO.sameAtEverySplit(text));
  }

  @Test
  void llama4sMarksAroundTheListAreMarkup() {
    assertEquals(
        "[call 0 get_time]{\"tz\": \"utc\"}",
        AUTO.sameAtEverySplit("<|python_start|>[get_time(tz=\"utc\")]<|python_end|>"));
    assertEquals(
        "[call 0 get_time]{}[content  Done.]", AUTO.sameAtEverySplit("[get_time()] Done."));
  }

  @Test
  void whatIsNotAListOfCallsStaysContentWordForWord() {
    String[] texts = {
      "Hello",
      "It is [get_time()]", // text first
      "[1, 2]",
      "[]",
      "[get_news()]", // undeclared
      "[get_time(1)]", // positional
      "[get_time(tz=utc)]", // a variable
      "[get_time(tz=1, tz=2)]", // a keyword twice
      "[get_time(None=1)]",
      "[get_time(tz=(1, 2))]", // a tuple
      "[get_time(tz=1 + 2)]", // an expression
      "[get_time(tz=--1)]",
      "[get_time(tz=-'a')]",
      "[get_time(tz=f'x')]", // an f-string
      "[get_time(tz=b'x')]", // bytes
      "[get_time(tz='a' 'b')]", // strings side by side
      "[get_time(tz=\"\\N{DASH}\")]",
      "[get_time(tz=1j)]",
      "[get_time(tz=012)]",
      "[get_time(tz={1.5: 2})]",
      "[get_time(tz={'a' 1})]",
      "[get_time(tz='a\nb')]", // a line break in a one-line string
      "[get_time(tz=1) # why\n]",
      "[get_time();]",
      "[get_time.now()]",
      "[get_time() get_time()]",
      "[get_time()", // never closed
      "[get_time(tz=\"u", // never closed
      "<|python_start|>hello",
      "<|python_st",
    };
    for (String text : texts) {
      ToolParser.Parsed p = AUTO.parse(text);
      assertEquals(text, p.content(), text);
      assertTrue(p.calls().isEmpty(), text);
      assertEquals("[content " + text + "]", AUTO.sameAtEverySplit(text), text);
    }
  }

  @Test
  void forcedCallsStartAtTheirParenthesisAndStreamTheirArguments() {
    String text = " [get_weather(city=\"O\\\"s)lo\", days=[1, 2], x={\"k\": None}),get_time()]";
    assertEquals(
        "[call 0 get_weather]{\"city\": \"O\\\"s)lo\", \"days\": [1, 2], \"x\": {\"k\": null}}"
            + "[call 1 get_time]{}",
        FORCED.sameAtEverySplit(text));
    assertEquals(AUTO.whole(text.strip()), FORCED.whole(text), "the same calls either way");
    ToolParser s = FORCED.parser();
    List<ToolParser.Piece> first = s.feed("[get_weather(city=\"Os");
    assertEquals(2, first.size(), "" + first);
    assertEquals("get_weather", ((ToolParser.CallStart) first.get(0)).name());
    assertEquals(new ToolParser.Arguments(0, "{\"city\": \"Os"), first.get(1));
    assertFalse(s.hasCalls(), "a call counts once its arguments close, as in the other formats");
    s.feed("lo\")");
    assertTrue(s.hasCalls());
    ToolParser.Parsed cut = FORCED.parse("[get_weather(city=\"O");
    assertEquals("{\"city\": \"O", cut.calls().get(0).arguments());
    assertNull(cut.content());
    assertFalse(AUTO.parser().hasCalls());
  }
}
