package io.llavaserve.engine.runner;

/**
 * Logits produced by one step, row-major {@code [rows, vocabSize]}: one row per chunk (its last
 * token), in the batch's chunk order, or one row per new token when all logits were asked for. The
 * array may be longer than {@code rows * vocabSize} (a reused buffer); what lies past is not part
 * of the output.
 */
public record StepOutput(int rows, int vocabSize, float[] logits) {

  public StepOutput {
    if (rows < 0 || vocabSize <= 0 || logits.length < (long) rows * vocabSize) {
      throw new IllegalArgumentException("logits must hold rows x vocabSize floats");
    }
  }

  /** Offset of row {@code i} in {@link #logits()}. */
  public int rowOffset(int i) {
    return i * vocabSize;
  }

  /** A copy of row {@code i}. */
  public float[] row(int i) {
    float[] out = new float[vocabSize];
    System.arraycopy(logits, i * vocabSize, out, 0, vocabSize);
    return out;
  }
}
