package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class Utf8LossyTest {

  private static String decode(int... bytes) {
    byte[] b = new byte[bytes.length];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) bytes[i];
    }
    StringBuilder out = new StringBuilder();
    assertEquals(b.length, Utf8Lossy.decode(b, b.length, true, out));
    return out.toString();
  }

  @Test
  void validTextDecodesAsIs() {
    String text = "a é 你 😀 \u0000 \uFFFF";
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    StringBuilder out = new StringBuilder();
    Utf8Lossy.decode(b, b.length, true, out);
    assertEquals(text, out.toString());
  }

  @Test
  void eachMaximalInvalidSubpartBecomesOneReplacementCharacter() {
    // The cases of Unicode's "U+FFFD substitution of maximal subparts", as from_utf8_lossy does.
    assertEquals("\uFFFDA", decode(0xE2, 0x82, 'A')); // truncated 3-byte sequence: one U+FFFD
    assertEquals("\uFFFD\uFFFD", decode(0xC0, 0x80)); // overlong lead byte: two
    assertEquals("\uFFFD\uFFFD\uFFFD", decode(0xED, 0xA0, 0x80)); // a surrogate: three
    assertEquals("\uFFFD\uFFFD", decode(0xF4, 0x90)); // past U+10FFFF: two
    assertEquals("\uFFFD\uFFFD", decode(0x80, 0xBF)); // lone continuation bytes
    assertEquals("\uFFFD", decode(0xF0, 0x9F, 0x98)); // an emoji cut short at the end
    assertEquals("\uFFFD\uFFFD", decode(0xFF, 0xF5));
  }

  @Test
  void anIncompleteTailIsKeptUntilTheLastBytes() {
    byte[] b = {'x', (byte) 0xF0, (byte) 0x9F, (byte) 0x98};
    StringBuilder out = new StringBuilder();
    assertEquals(1, Utf8Lossy.decode(b, b.length, false, out));
    assertEquals("x", out.toString());
    // An invalid byte ends the wait at once.
    byte[] c = {(byte) 0xF0, (byte) 0x9F, 'y'};
    out.setLength(0);
    assertEquals(3, Utf8Lossy.decode(c, c.length, false, out));
    assertEquals("\uFFFDy", out.toString());
  }
}
