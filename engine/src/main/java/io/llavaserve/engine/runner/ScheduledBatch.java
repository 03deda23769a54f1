package io.llavaserve.engine.runner;

import io.llavaserve.engine.sampling.RowSampling;
import java.util.List;

/**
 * Everything one engine step computes in a single session call: the chunks of any number of
 * sequences, mixed freely (prefill chunks and decode tokens side by side).
 *
 * @param chunks one per sequence in the step; a sequence appears at most once
 * @param allLogits when true the step returns logits for every new token (used by {@code inspect});
 *     otherwise only for each chunk's last token
 */
public record ScheduledBatch(List<SequenceChunk> chunks, boolean allLogits) {

  public ScheduledBatch {
    chunks = List.copyOf(chunks);
    if (chunks.isEmpty()) {
      throw new IllegalArgumentException("a scheduled batch needs at least one chunk");
    }
  }

  public static ScheduledBatch of(List<SequenceChunk> chunks) {
    return new ScheduledBatch(chunks, false);
  }

  /** A batch whose output holds the whole logits row of every chunk's last token. */
  public static ScheduledBatch withLogits(List<SequenceChunk> chunks) {
    return of(chunks.stream().map(c -> c.withSampling(RowSampling.full())).toList());
  }

  /** New tokens across all chunks. */
  public int numTokens() {
    int n = 0;
    for (SequenceChunk c : chunks) {
      n += c.length();
    }
    return n;
  }
}
