package io.llavaserve.engine.sampling.constraint;

/**
 * The token ids a grammar allows at one step, as a bit per id. Shared: masks are cached on the
 * grammar's states, so a mask must not be changed by whoever receives it.
 */
public final class TokenMask {

  private final long[] words; // bit (id & 63) of words[id >>> 6]

  TokenMask(long[] words) {
    this.words = words;
  }

  /** A mask allowing exactly {@code ids} (non-negative). */
  public static TokenMask allowing(int... ids) {
    int max = -1;
    for (int id : ids) {
      if (id < 0) {
        throw new IllegalArgumentException("token id " + id + " is negative");
      }
      max = Math.max(max, id);
    }
    long[] words = new long[(max >>> 6) + 1];
    for (int id : ids) {
      words[id >>> 6] |= 1L << id;
    }
    return new TokenMask(max < 0 ? new long[0] : words);
  }

  /** Whether {@code id} may be sampled. */
  public boolean allows(int id) {
    int w = id >>> 6;
    return id >= 0 && w < words.length && (words[w] & (1L << id)) != 0;
  }

  /** How many ids are allowed. */
  public int count() {
    int n = 0;
    for (long w : words) {
      n += Long.bitCount(w);
    }
    return n;
  }

  /**
   * Writes the mask's first {@code n} bits into {@code dst[offset .. offset + ceil(n / 8))}, id
   * {@code i} as bit {@code i & 7} of byte {@code i >> 3} (ids past the mask's end as 0): the
   * layout a step's device mask is fed in.
   */
  public void writeBits(byte[] dst, int offset, int n) {
    int bytes = (n + 7) >>> 3;
    java.util.Objects.checkFromIndexSize(offset, bytes, dst.length);
    for (int b = 0; b < bytes; b++) {
      int w = b >>> 3;
      dst[offset + b] = w < words.length ? (byte) (words[w] >>> ((b & 7) * 8)) : 0;
    }
    int tail = n & 7;
    if (tail != 0) {
      dst[offset + bytes - 1] &= (byte) ((1 << tail) - 1);
    }
  }

  /**
   * Sets every logit of {@code row[offset .. offset + n)} whose id is not allowed to -infinity, so
   * that no sampling rule can pick it.
   */
  public void applyTo(float[] row, int offset, int n) {
    for (int w = 0; w * 64 < n; w++) {
      long allowed = w < words.length ? words[w] : 0L;
      if (allowed == -1L) {
        continue;
      }
      int end = Math.min(64, n - w * 64);
      for (int bit = 0; bit < end; bit++) {
        if ((allowed & (1L << bit)) == 0) {
          row[offset + w * 64 + bit] = Float.NEGATIVE_INFINITY;
        }
      }
    }
  }
}
