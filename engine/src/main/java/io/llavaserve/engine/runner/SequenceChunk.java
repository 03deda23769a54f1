package io.llavaserve.engine.runner;

import io.llavaserve.engine.sampling.RowSampling;
import java.util.List;

/**
 * One sequence's share of a step: a run of new tokens (a prefill chunk of any length or a single
 * decode token) at consecutive positions, and the KV blocks the sequence owns.
 *
 * <p>Token {@code i} of the chunk sits at position {@code startPosition + i}; its key and value are
 * written to slot {@code blockTable[p / blockSize] * blockSize + p % blockSize}, and it attends to
 * every earlier position of the sequence through the same block table.
 *
 * @param tokenIds new token ids (image positions carry the image token id; their embeddings come
 *     from {@code images})
 * @param startPosition position of the first new token (the number of tokens already cached)
 * @param blockTable KV block ids covering positions {@code 0 .. startPosition+tokens-1}
 * @param images image feature rows to place at image-token positions of this chunk
 * @param sampling what the step computes from the logits of the chunk's last token
 */
public record SequenceChunk(
    int[] tokenIds,
    int startPosition,
    int[] blockTable,
    List<ImagePlacement> images,
    RowSampling sampling) {

  public SequenceChunk {
    if (tokenIds.length == 0) {
      throw new IllegalArgumentException("a sequence chunk needs at least one token");
    }
    if (startPosition < 0) {
      throw new IllegalArgumentException("startPosition must be >= 0");
    }
    images = List.copyOf(images);
    java.util.Objects.requireNonNull(sampling, "sampling");
    for (ImagePlacement p : images) {
      if (p.chunkOffset() + p.rowCount() > tokenIds.length) {
        throw new IllegalArgumentException("image placement runs past the end of the chunk");
      }
    }
  }

  /** A chunk whose step returns only the candidates of its last token. */
  public SequenceChunk(
      int[] tokenIds, int startPosition, int[] blockTable, List<ImagePlacement> images) {
    this(tokenIds, startPosition, blockTable, images, RowSampling.CANDIDATES);
  }

  /** A chunk with no image rows. */
  public static SequenceChunk text(int[] tokenIds, int startPosition, int[] blockTable) {
    return new SequenceChunk(tokenIds, startPosition, blockTable, List.of());
  }

  /** This chunk with {@code sampling} for its last token. */
  public SequenceChunk withSampling(RowSampling sampling) {
    return new SequenceChunk(tokenIds, startPosition, blockTable, images, sampling);
  }

  public int length() {
    return tokenIds.length;
  }

  /** Tokens of the sequence once this chunk is written. */
  public int contextLength() {
    return startPosition + tokenIds.length;
  }
}
