package io.llavaserve.web.openai.toolparsers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Runs a parser over an answer whole, split in two at a point, character by character or in random
 * slices, and writes what it read as one string ({@code [content ...]}, {@code [call i name]}
 * followed by the arguments), so that the ways of feeding it can be compared.
 */
final class ParserRun {

  static final Set<String> NAMES = Set.of("get_weather", "get_time");

  private final ToolCallFormat format;
  private final boolean forced;

  ParserRun(ToolCallFormat format, boolean forced) {
    this.format = format;
    this.forced = forced;
  }

  ToolParser parser() {
    return ToolParser.of(format, NAMES, forced, ToolCallIds.OPENAI);
  }

  ToolParser.Parsed parse(String text) {
    return ToolParser.parse(parser(), text);
  }

  /** The pieces of {@code text} fed in these slices, then finished. */
  String fed(List<String> slices) {
    ToolParser p = parser();
    List<ToolParser.Piece> pieces = new ArrayList<>();
    for (String s : slices) {
      pieces.addAll(p.feed(s));
    }
    pieces.addAll(p.finish());
    return render(pieces);
  }

  String whole(String text) {
    return fed(List.of(text));
  }

  /**
   * Feeding {@code text} split at every point, by characters and in random slices gives the same.
   */
  String sameAtEverySplit(String text) {
    String whole = whole(text);
    for (int k = 0; k <= text.length(); k++) {
      assertEquals(whole, fed(List.of(text.substring(0, k), text.substring(k))), "split at " + k);
    }
    List<String> chars = new ArrayList<>();
    for (int i = 0; i < text.length(); i++) {
      chars.add(text.substring(i, i + 1));
    }
    assertEquals(whole, fed(chars), "by characters");
    for (long seed = 0; seed < 10; seed++) {
      Random random = new Random(seed);
      List<String> slices = new ArrayList<>();
      for (int i = 0; i < text.length(); ) {
        int n = 1 + random.nextInt(5);
        slices.add(text.substring(i, Math.min(text.length(), i + n)));
        i += n;
      }
      assertEquals(whole, fed(slices), "slices of seed " + seed);
    }
    return whole;
  }

  static String render(List<ToolParser.Piece> pieces) {
    StringBuilder out = new StringBuilder();
    for (ToolParser.Piece p : pieces) {
      if (p instanceof ToolParser.Content c) {
        out.append("[content ").append(c.text()).append(']');
      } else if (p instanceof ToolParser.CallStart c) {
        out.append("[call ").append(c.index()).append(' ').append(c.name()).append(']');
      } else if (p instanceof ToolParser.Arguments a) {
        out.append(a.fragment());
      }
    }
    return out.toString().replace("][content ", "");
  }
}
