package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ByteLevelAlphabetTest {

  @Test
  void everyByteHasItsOwnSymbolAndTheSymbolsReadBack() {
    Set<Character> seen = new HashSet<>();
    for (int b = 0; b < 256; b++) {
      char c = ByteLevelAlphabet.symbol(b);
      seen.add(c);
      assertEquals(b, ByteLevelAlphabet.byteOf(c), "byte " + b);
    }
    assertEquals(256, seen.size());
  }

  @Test
  void printableBytesStandForThemselvesAndTheRestMoveToU0100Onwards() {
    assertEquals('!', ByteLevelAlphabet.symbol('!'));
    assertEquals('~', ByteLevelAlphabet.symbol('~'));
    assertEquals('\u00e9', ByteLevelAlphabet.symbol(0xE9));
    assertEquals('\u0100', ByteLevelAlphabet.symbol(0)); // the first non-printable byte
    assertEquals('\u010a', ByteLevelAlphabet.symbol('\n')); // "Ċ"
    assertEquals('\u0120', ByteLevelAlphabet.symbol(' ')); // "Ġ"
    assertEquals('\u0143', ByteLevelAlphabet.symbol(0xAD)); // the last one, soft hyphen
    assertEquals(-1, ByteLevelAlphabet.byteOf(' '));
    assertEquals(-1, ByteLevelAlphabet.byteOf('\u0144'));
  }

  @Test
  void textIsWrittenAsTheSymbolsOfItsUtf8Bytes() {
    assertEquals("Ġhello", ByteLevelAlphabet.encode(" hello"));
    assertEquals("ä½łå¥½", ByteLevelAlphabet.encode("你好"));
    assertEquals("ðŁĺĢ", ByteLevelAlphabet.encode("😀"));
    String text = "mixed 😀 \r\n\u0000 日本";
    assertArrayEquals(
        text.getBytes(StandardCharsets.UTF_8),
        ByteLevelAlphabet.bytesOf(ByteLevelAlphabet.encode(text)));
  }

  @Test
  void aTokenWithACharacterOutsideTheAlphabetIsReadAsItsOwnUtf8() {
    // As HF's ByteLevel decoder: all of the token or none of it goes through the byte map.
    assertArrayEquals("a b".getBytes(StandardCharsets.UTF_8), ByteLevelAlphabet.bytesOf("a b"));
    assertArrayEquals(new byte[] {'c', 'a', 'f', (byte) 0xE9}, ByteLevelAlphabet.bytesOf("café"));
    assertArrayEquals(
        "<|im_end|>".getBytes(StandardCharsets.UTF_8), ByteLevelAlphabet.bytesOf("<|im_end|>"));
  }
}
