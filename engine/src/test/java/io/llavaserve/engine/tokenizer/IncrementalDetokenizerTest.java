package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class IncrementalDetokenizerTest {

  private static final LlamaTokenizer TOK = LlamaTokenizer.bundledLlama();

  private static final String[] TEXTS = {
    "Hello world",
    " leading space",
    "  two leading spaces and trailing  ",
    "line one\nline two\n\n\ttabbed",
    "emoji 🦙😀 split over byte tokens, 日本語 and Ḁ",
    "USER: <image>\nWhat is shown? ASSISTANT: A llama.</s>",
    "😀",
    " ",
    "",
  };

  @Test
  void decodeRoundTripsText() {
    for (String text : TEXTS) {
      if (!text.contains("<")) {
        assertEquals(text, TOK.decode(TOK.encode(text), true), text);
      }
    }
  }

  @Test
  void decodeKeepsSpecialTokensUnlessSkipped() {
    assertEquals("<s> Hello", TOK.decode(new int[] {1, 15043}, false));
    assertEquals("Hello", TOK.decode(new int[] {1, 15043}, true));
    // The segment after an added token got its own "▁" when encoding, and it decodes to a
    // space: HF gives the same not-quite-inverse text.
    int[] ids = TOK.encode("USER: <image>\nWhat", false);
    assertEquals("USER: <image> \nWhat", TOK.decode(ids, false));
    assertEquals("USER:  \nWhat", TOK.decode(ids, true));
  }

  @Test
  void invalidByteRunsBecomeOneReplacementCharPerByte() {
    // F0 9F alone is half an emoji.
    assertEquals("\uFFFD\uFFFD", TOK.decode(new int[] {243, 162}, true));
    // A stray continuation byte spoils the whole run it is in, as in HF's ByteFallback.
    assertEquals("\uFFFD".repeat(5), TOK.decode(new int[] {177, 243, 162, 148, 131}, true));
    // A non-byte token ends the run, so the emoji after it survives.
    assertEquals("\uFFFD have👀", TOK.decode(new int[] {177, 505, 243, 162, 148, 131}, true));
    // Ids outside the vocabulary are ignored, as HF does.
    assertEquals("Hello", TOK.decode(new int[] {15043, 99999, -1}, true));
  }

  @Test
  void streamsWordsWithTheFirstLeadingSpaceStripped() {
    IncrementalDetokenizer detok = TOK.newDetokenizer(true);
    assertEquals("", detok.next(1));
    assertEquals("Hello", detok.next(15043));
    assertEquals(" world", detok.next(3186));
    assertEquals("", detok.flush());
  }

  @Test
  void holdsBytesUntilTheCharacterIsComplete() {
    IncrementalDetokenizer detok = TOK.newDetokenizer(true);
    int[] ids = TOK.encode("🦙 llama", false); // ▁ F0 9F A6 99 ▁ll ama
    assertEquals("", detok.next(ids[0]));
    for (int i = 1; i <= 4; i++) {
      assertEquals("", detok.next(ids[i]), "byte " + i);
    }
    assertEquals("🦙 ll", detok.next(ids[5]));
    assertEquals("ama", detok.next(ids[6]));
    assertEquals("", detok.flush());

    IncrementalDetokenizer last = TOK.newDetokenizer(true);
    for (int id : TOK.encode("ok 😀", false)) {
      last.next(id);
    }
    assertEquals("😀", last.flush());
  }

  @Test
  void concatenatedPiecesEqualDecodeForRealTexts() {
    for (String text : TEXTS) {
      int[] ids = TOK.encode(text);
      assertStreamMatchesDecode(ids, true);
      assertStreamMatchesDecode(ids, false);
    }
  }

  @Test
  void concatenatedPiecesEqualDecodeForRandomIds() {
    Random random = new Random(1234);
    for (int n = 0; n < 2000; n++) {
      int[] ids = new int[random.nextInt(24)];
      for (int i = 0; i < ids.length; i++) {
        int kind = random.nextInt(10);
        if (kind < 4) {
          ids[i] = 3 + random.nextInt(256); // byte-fallback tokens, often invalid UTF-8
        } else if (kind < 5) {
          ids[i] = new int[] {0, 1, 2, 32000, 32001, 29871, 259}[random.nextInt(7)];
        } else {
          ids[i] = random.nextInt(TOK.vocabSize());
        }
      }
      assertStreamMatchesDecode(ids, random.nextBoolean());
    }
  }

  @Test
  void validEmojiBytesStreamWholeCharactersOnly() {
    Random random = new Random(99);
    String[] pieces = {"😀", "🦙", "日本", "Ḁ", " ", "a", "\n", "é"};
    for (int n = 0; n < 200; n++) {
      StringBuilder text = new StringBuilder();
      for (int i = random.nextInt(12); i > 0; i--) {
        text.append(pieces[random.nextInt(pieces.length)]);
      }
      List<String> emitted = assertStreamMatchesDecode(TOK.encode(text.toString()), true);
      for (String piece : emitted) {
        assertFalse(piece.contains("\uFFFD"), () -> "replacement char in " + text);
        assertFalse(
            !piece.isEmpty()
                && (Character.isLowSurrogate(piece.charAt(0))
                    || Character.isHighSurrogate(piece.charAt(piece.length() - 1))),
            () -> "split surrogate pair in " + text);
      }
    }
  }

  private static List<String> assertStreamMatchesDecode(int[] ids, boolean skipSpecial) {
    IncrementalDetokenizer detok = TOK.newDetokenizer(skipSpecial);
    List<String> pieces = new ArrayList<>();
    for (int id : ids) {
      pieces.add(detok.next(id));
    }
    pieces.add(detok.flush());
    assertEquals(
        TOK.decode(ids, skipSpecial),
        String.join("", pieces),
        () -> "ids " + java.util.Arrays.toString(ids) + " skip=" + skipSpecial);
    return pieces;
  }
}
