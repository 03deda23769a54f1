package io.llavaserve.batching.kvcache;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Chained hash of a full KV block, the prefix-cache key: {@code hash(parent, block content)}, so a
 * block's hash names its whole prefix. SHA-256 over a canonical encoding, truncated to 64 bits; a
 * hit is still confirmed by content, so a collision costs a miss, never a wrong answer.
 */
public final class PrefixHash {

  /** Parent hash of a sequence's first block. */
  public static final long ROOT = 0x6c6c6176615f6b76L;

  private static final ThreadLocal<MessageDigest> SHA_256 =
      ThreadLocal.withInitial(
          () -> {
            try {
              return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
              throw new IllegalStateException("SHA-256 is missing from this JVM", e);
            }
          });

  private PrefixHash() {}

  /**
   * Hash of positions {@code [start, start + length)} of {@code tokens} chained to {@code
   * parentHash}. Per position the encoding is the token id, then either a 0 byte (text) or a 1
   * byte, the digest's UTF-8 length and bytes, and the image row, so no two contents share an
   * encoding.
   */
  public static long of(long parentHash, TokenSource tokens, int start, int length) {
    MessageDigest sha = SHA_256.get();
    sha.reset();
    byte[] scratch = new byte[8];
    putLong(sha, scratch, parentHash);
    putInt(sha, scratch, length);
    for (int p = start; p < start + length; p++) {
      putInt(sha, scratch, tokens.tokenAt(p));
      String digest = tokens.imageDigestAt(p);
      if (digest == null) {
        sha.update((byte) 0);
      } else {
        byte[] utf8 = digest.getBytes(StandardCharsets.UTF_8);
        sha.update((byte) 1);
        putInt(sha, scratch, utf8.length);
        sha.update(utf8);
        putInt(sha, scratch, tokens.imageRowAt(p));
      }
    }
    byte[] out = sha.digest();
    long h = 0;
    for (int i = 0; i < 8; i++) {
      h = (h << 8) | (out[i] & 0xff);
    }
    return h;
  }

  private static void putInt(MessageDigest sha, byte[] scratch, int v) {
    for (int i = 0; i < 4; i++) {
      scratch[i] = (byte) (v >>> (24 - 8 * i));
    }
    sha.update(scratch, 0, 4);
  }

  private static void putLong(MessageDigest sha, byte[] scratch, long v) {
    for (int i = 0; i < 8; i++) {
      scratch[i] = (byte) (v >>> (56 - 8 * i));
    }
    sha.update(scratch, 0, 8);
  }
}
