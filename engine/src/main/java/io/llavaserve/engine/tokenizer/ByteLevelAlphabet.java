package io.llavaserve.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * GPT-2's byte-to-unicode alphabet, which byte-level BPE vocabularies (GPT-2, Qwen2, LLaMA-3) are
 * written in: every byte gets one visible character, so any UTF-8 text becomes a string of 256
 * possible symbols. The printable bytes {@code !..~}, {@code ¡..¬} and {@code ®..ÿ} stand for
 * themselves; the other 68 bytes, in increasing order, take U+0100 onwards (space is {@code Ġ},
 * newline {@code Ċ}).
 */
final class ByteLevelAlphabet {

  private static final char[] CHAR_OF_BYTE = new char[256];
  private static final int[] BYTE_OF_CHAR = new int[0x144]; // highest symbol is U+0143

  static {
    Arrays.fill(BYTE_OF_CHAR, -1);
    int next = 0x100;
    for (int b = 0; b < 256; b++) {
      boolean printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char c = printable ? (char) b : (char) next++;
      CHAR_OF_BYTE[b] = c;
      BYTE_OF_CHAR[c] = b;
    }
  }

  private ByteLevelAlphabet() {}

  /** The symbol standing for one byte (0..255). */
  static char symbol(int b) {
    return CHAR_OF_BYTE[b & 0xFF];
  }

  /** The byte a symbol stands for, or -1 when the character is not one of the 256 symbols. */
  static int byteOf(int c) {
    return c >= 0 && c < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[c] : -1;
  }

  /** Text to symbols: each UTF-8 byte of the text becomes its symbol. */
  static String encode(String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = CHAR_OF_BYTE[bytes[i] & 0xFF];
    }
    return new String(out);
  }

  /**
   * The bytes a token string stands for, as Hugging Face's ByteLevel decoder reads it: the symbols'
   * bytes when every character of the token is a symbol, else the token's own UTF-8 bytes (an added
   * token written with other characters comes out as written).
   */
  static byte[] bytesOf(String token) {
    byte[] out = new byte[token.length()];
    for (int i = 0; i < token.length(); i++) {
      int b = byteOf(token.charAt(i));
      if (b < 0) {
        return token.getBytes(StandardCharsets.UTF_8);
      }
      out[i] = (byte) b;
    }
    return out;
  }
}
