package io.llavaserve.batching.kvcache;

import java.util.ArrayList;
import java.util.List;

/** An immutable {@link TokenSource} for tests, built position by position. */
final class TestSequence extends TokenArrays {

  /** The id every image position carries, as in LLaVA's expanded prompt. */
  static final int IMAGE_TOKEN = 32000;

  private TestSequence(int[] tokenIds, String[] digests, int[] rows) {
    super(tokenIds, digests, rows);
  }

  static TestSequence text(int... ids) {
    return builder().text(ids).build();
  }

  static Builder builder() {
    return new Builder();
  }

  /** Content of positions [0, end) as a string, equal for equal content. */
  String prefixKey(int end) {
    StringBuilder sb = new StringBuilder();
    for (int p = 0; p < end; p++) {
      sb.append(tokenIds[p]);
      if (imageDigests[p] != null) {
        sb.append('@').append(imageDigests[p]).append('#').append(imageRows[p]);
      }
      sb.append(',');
    }
    return sb.toString();
  }

  @Override
  public String toString() {
    return prefixKey(length());
  }

  static final class Builder {
    private final List<Integer> ids = new ArrayList<>();
    private final List<String> digests = new ArrayList<>();
    private final List<Integer> rows = new ArrayList<>();

    Builder text(int... tokenIds) {
      for (int id : tokenIds) {
        ids.add(id);
        digests.add(null);
        rows.add(0);
      }
      return this;
    }

    /** {@code numRows} image positions showing rows 0.. of the image with {@code digest}. */
    Builder image(String digest, int numRows) {
      return imageRows(digest, 0, numRows);
    }

    /** Image positions showing rows {@code [fromRow, fromRow + numRows)}. */
    Builder imageRows(String digest, int fromRow, int numRows) {
      for (int r = fromRow; r < fromRow + numRows; r++) {
        ids.add(IMAGE_TOKEN);
        digests.add(digest);
        rows.add(r);
      }
      return this;
    }

    TestSequence build() {
      return new TestSequence(
          ids.stream().mapToInt(Integer::intValue).toArray(),
          digests.toArray(new String[0]),
          rows.stream().mapToInt(Integer::intValue).toArray());
    }
  }
}
