package io.llavaserve.batching.kvcache;

/**
 * A {@link TokenSource} held in three parallel arrays: each position's token id, the digest of the
 * image it shows (null for text) and the image row. Shared by the cache's block contents and the
 * tests' sequences.
 */
class TokenArrays implements TokenSource {

  protected final int[] tokenIds;
  protected final String[] imageDigests;
  protected final int[] imageRows;

  TokenArrays(int[] tokenIds, String[] imageDigests, int[] imageRows) {
    if (imageDigests.length != tokenIds.length || imageRows.length != tokenIds.length) {
      throw new IllegalArgumentException(
          "token ids, digests and rows differ in length: "
              + tokenIds.length
              + ", "
              + imageDigests.length
              + ", "
              + imageRows.length);
    }
    this.tokenIds = tokenIds;
    this.imageDigests = imageDigests;
    this.imageRows = imageRows;
  }

  @Override
  public int length() {
    return tokenIds.length;
  }

  @Override
  public int tokenAt(int position) {
    return tokenIds[position];
  }

  @Override
  public String imageDigestAt(int position) {
    return imageDigests[position];
  }

  @Override
  public int imageRowAt(int position) {
    return imageRows[position];
  }
}
