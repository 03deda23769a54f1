package io.llavaserve.batching.kvcache;

/**
 * The content of a sequence as the KV cache sees it: one entry per position of the expanded
 * sequence (prompt with image rows, then generated tokens). Two positions hold the same key and
 * value when their token id is the same and, for image positions, they show the same row of the
 * same image (all image positions share one token id, so the digest and row tell them apart).
 */
public interface TokenSource {

  /** Positions known so far. */
  int length();

  /** Token id at {@code position}. */
  int tokenAt(int position);

  /** Content digest of the image shown at {@code position}, or null for a text position. */
  String imageDigestAt(int position);

  /** Row of that image at {@code position} (0 for a text position). */
  int imageRowAt(int position);
}
