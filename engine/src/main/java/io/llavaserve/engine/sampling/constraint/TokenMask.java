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
