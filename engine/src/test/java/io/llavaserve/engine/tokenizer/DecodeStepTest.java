package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The streaming form of every decoder pipeline gives the batch form's text. */
class DecodeStepTest {

  private static final List<List<DecodeStep>> PIPELINES =
      List.of(
          List.of(
              new DecodeStep.Replace("\u2581", " "),
              new DecodeStep.ByteFallback(),
              new DecodeStep.Fuse(),
              new DecodeStep.Strip(' ', 1, 0)),
          List.of(
              new DecodeStep.ByteFallback(),
              new DecodeStep.Fuse(),
              new DecodeStep.Strip(' ', 2, 1)),
          List.of(new DecodeStep.ByteFallback(), new DecodeStep.Metaspace("\u2581", true)),
          List.of(new DecodeStep.Metaspace("\u2581", false)),
          List.of(new DecodeStep.Strip(' ', 1, 1), new DecodeStep.JoinWithSpace()),
          List.of(new DecodeStep.JoinWithSpace()));

  @Test
  void metaspaceDropsEveryMarkerInTheFirstTokenOnly() {
    TokenDecoder decoder = new TokenDecoder(List.of(new DecodeStep.Metaspace("\u2581", true)));
    assertEquals("Hey friend", decoder.decode(List.of("\u2581Hey", "\u2581friend")));
    assertEquals("ab c", decoder.decode(List.of("\u2581a\u2581b", "\u2581c")));
  }

  @Test
  void fusedStripRemovesLeadingAndTrailingSpaces() {
    TokenDecoder decoder = new TokenDecoder(PIPELINES.get(1));
    assertEquals(" a b ", decoder.decode(List.of("   a", " b", "  ")));
  }

  @Test
  void streamingEqualsBatchForRandomTokens() {
    String[] tokens = {
      "\u2581",
      "\u2581a",
      "b",
      " ",
      "  ",
      "<0xF0>",
      "<0x9F>",
      "<0x98>",
      "<0x80>",
      "<0x41>",
      "<0xFF>",
      "<0x20>",
      "x\u2581y",
      "",
      "<s>"
    };
    Random random = new Random(5);
    for (List<DecodeStep> steps : PIPELINES) {
      TokenDecoder decoder = new TokenDecoder(steps);
      for (int n = 0; n < 500; n++) {
        List<String> input = new ArrayList<>();
        for (int i = random.nextInt(10); i > 0; i--) {
          input.add(tokens[random.nextInt(tokens.length)]);
        }
        TokenDecoder.Stream stream = decoder.newStream();
        StringBuilder streamed = new StringBuilder();
        input.forEach(t -> streamed.append(stream.push(t)));
        streamed.append(stream.finish());
        assertEquals(decoder.decode(input), streamed.toString(), steps + " on " + input);
      }
    }
  }
}
