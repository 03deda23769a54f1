package io.llavaserve.engine.tokenizer;

/**
 * UTF-8 bytes to text the way Rust's {@code String::from_utf8_lossy} (and a WHATWG {@code
 * TextDecoder}) does it: each maximal invalid subpart of the input becomes one U+FFFD. With {@code
 * last == false} a trailing sequence that is incomplete but could still become valid is left
 * undecoded, so a stream of bytes can be decoded piecewise with exactly the result of decoding it
 * whole.
 */
final class Utf8Lossy {

  private Utf8Lossy() {}

  /**
   * Decodes {@code bytes[0..length)} into {@code out}.
   *
   * @param last whether no more bytes will follow; if not, an incomplete trailing sequence is kept
   * @return how many bytes were consumed (less than {@code length} only when {@code !last})
   */
  static int decode(byte[] bytes, int length, boolean last, StringBuilder out) {
    int i = 0;
    while (i < length) {
      int b0 = bytes[i] & 0xFF;
      if (b0 < 0x80) {
        out.append((char) b0);
        i++;
        continue;
      }
      int need; // continuation bytes after the lead byte
      int lo = 0x80; // allowed range of the first continuation byte
      int hi = 0xBF;
      if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
      } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        if (b0 == 0xE0) {
          lo = 0xA0; // no overlong forms
        } else if (b0 == 0xED) {
          hi = 0x9F; // no surrogates
        }
      } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        if (b0 == 0xF0) {
          lo = 0x90;
        } else if (b0 == 0xF4) {
          hi = 0x8F; // nothing past U+10FFFF
        }
      } else {
        out.append('\uFFFD');
        i++;
        continue;
      }
      int cp = b0 & (0x3F >> need);
      int j = 1;
      for (; j <= need; j++) {
        if (i + j >= length) {
          break;
        }
        int b = bytes[i + j] & 0xFF;
        if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF)) {
          break;
        }
        cp = (cp << 6) | (b & 0x3F);
      }
      if (j > need) {
        out.appendCodePoint(cp);
        i += j;
      } else if (i + j >= length && !last) {
        return i; // a valid prefix cut off by the end: wait for more bytes
      } else {
        out.append('\uFFFD'); // the valid prefix i..i+j is one maximal subpart
        i += j;
      }
    }
    return length;
  }
}
