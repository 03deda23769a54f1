package io.llavaserve.engine.runner;

import io.llavaserve.engine.sampling.RowOutput;
import java.util.List;

/**
 * What one step returns: per chunk, in the batch's chunk order, a {@link RowOutput} of its last
 * token (the candidates, and what the chunk's {@link SequenceChunk#sampling()} asked for); or, for
 * a batch that asked for {@link ScheduledBatch#allLogits()}, the logits of every new token.
 *
 * @param vocabSize the logits' row length
 * @param rows one per chunk; empty for an all-logits batch
 * @param allLogits {@code [tokens, vocabSize]} row-major for an all-logits batch, else null
 */
public record StepOutput(int vocabSize, List<RowOutput> rows, float[] allLogits) {

  public StepOutput {
    rows = List.copyOf(rows);
    if (vocabSize <= 0 || (allLogits != null && allLogits.length % vocabSize != 0)) {
      throw new IllegalArgumentException("logits must hold whole rows of vocabSize floats");
    }
  }

  /** Rows of logits this output holds: one per token when all were asked for, else per chunk. */
  public int rowCount() {
    return allLogits != null ? allLogits.length / vocabSize : rows.size();
  }

  /**
   * The logits of row {@code i}: token {@code i} of an all-logits batch, else chunk {@code i}'s
   * last token, which its sampling must have asked for ({@link ScheduledBatch#withLogits}).
   */
  public float[] row(int i) {
    if (allLogits != null) {
      float[] out = new float[vocabSize];
      System.arraycopy(allLogits, i * vocabSize, out, 0, vocabSize);
      return out;
    }
    float[] full = rows.get(i).fullRow();
    if (full == null) {
      throw new IllegalStateException("chunk " + i + " did not ask for its logits row");
    }
    return full.clone();
  }

  /** Every row of {@link #row(int)}, concatenated: {@code [rowCount, vocabSize]}. */
  public float[] logits() {
    if (allLogits != null) {
      return allLogits;
    }
    float[] out = new float[rows.size() * vocabSize];
    for (int i = 0; i < rows.size(); i++) {
      System.arraycopy(row(i), 0, out, i * vocabSize, vocabSize);
    }
    return out;
  }
}
