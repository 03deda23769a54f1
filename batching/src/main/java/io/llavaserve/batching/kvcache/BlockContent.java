package io.llavaserve.batching.kvcache;

import java.util.Arrays;
import java.util.Objects;

/**
 * What a cached block holds, kept so that a hash hit can be confirmed position by position. It is
 * itself a {@link TokenSource} of one block, so its hash can be recomputed for invariant checks.
 */
final class BlockContent extends TokenArrays {

  private BlockContent(int[] tokenIds, String[] imageDigests, int[] imageRows) {
    super(tokenIds, imageDigests, imageRows);
  }

  /** Copies positions {@code [start, start + length)} of {@code tokens}. */
  static BlockContent of(TokenSource tokens, int start, int length) {
    int[] ids = new int[length];
    String[] digests = new String[length];
    int[] rows = new int[length];
    for (int i = 0; i < length; i++) {
      ids[i] = tokens.tokenAt(start + i);
      digests[i] = tokens.imageDigestAt(start + i);
      rows[i] = digests[i] == null ? 0 : tokens.imageRowAt(start + i);
    }
    return new BlockContent(ids, digests, rows);
  }

  /** True when positions {@code [start, start + length())} of {@code tokens} hold this content. */
  boolean matches(TokenSource tokens, int start) {
    for (int i = 0; i < tokenIds.length; i++) {
      if (tokens.tokenAt(start + i) != tokenIds[i]) {
        return false;
      }
      String digest = tokens.imageDigestAt(start + i);
      if (!Objects.equals(digest, imageDigests[i])) {
        return false;
      }
      if (digest != null && tokens.imageRowAt(start + i) != imageRows[i]) {
        return false;
      }
    }
    return true;
  }

  @Override
  public String toString() {
    return "BlockContent" + Arrays.toString(tokenIds);
  }
}
