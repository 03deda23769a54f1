package io.llavaserve.engine.training;

import java.util.Arrays;
import java.util.Collection;
import java.util.TreeSet;

/**
 * The token ids the training text uses, mapped to dense rows, plus one shared row for every other
 * id of the tokenizer's vocabulary.
 *
 * <p>Training computes embeddings and logits over these rows only; the exported checkpoint writes
 * the full {@code [vocab_size, hidden]} matrix with every id outside the world holding the shared
 * row, so the served model computes exactly the logits training did.
 */
public final class WorldVocabulary {

  private final int[] ids; // sorted; row r holds ids[r]
  private final int vocabSize;

  /**
   * @param vocabSize the checkpoint's vocab_size (rows of the exported embedding)
   */
  public WorldVocabulary(Collection<Integer> usedIds, int vocabSize) {
    TreeSet<Integer> sorted = new TreeSet<>(usedIds);
    if (sorted.isEmpty() || sorted.first() < 0 || sorted.last() >= vocabSize) {
      throw new IllegalArgumentException("token ids must lie in [0, " + vocabSize + ")");
    }
    this.ids = sorted.stream().mapToInt(Integer::intValue).toArray();
    this.vocabSize = vocabSize;
  }

  /** The world ids, ascending. */
  public int[] ids() {
    return ids.clone();
  }

  /** Rows of the training embedding: the world's ids and the shared row. */
  public int rows() {
    return ids.length + 1;
  }

  /** The shared row every id outside the world maps to. */
  public int otherRow() {
    return ids.length;
  }

  /** How many vocabulary ids share {@link #otherRow()}. */
  public long otherCount() {
    return (long) vocabSize - ids.length;
  }

  public int vocabSize() {
    return vocabSize;
  }

  /** The training row of token {@code id}. */
  public int row(int id) {
    int r = Arrays.binarySearch(ids, id);
    return r >= 0 ? r : otherRow();
  }

  public boolean contains(int id) {
    return Arrays.binarySearch(ids, id) >= 0;
  }

  /**
   * The full embedding [vocab_size, hidden] from the training one [rows(), hidden]: row {@code
   * row(id)} for every id.
   */
  public float[] expand(float[] worldRows, int hidden) {
    if (worldRows.length != rows() * hidden) {
      throw new IllegalArgumentException(
          "expected " + rows() + " x " + hidden + " values, got " + worldRows.length);
    }
    float[] full = new float[vocabSize * hidden];
    for (int id = 0; id < vocabSize; id++) {
      System.arraycopy(worldRows, row(id) * hidden, full, id * hidden, hidden);
    }
    return full;
  }

  /** The training embedding back from a full one (the inverse of {@link #expand}). */
  public float[] restrict(float[] full, int hidden) {
    float[] world = new float[rows() * hidden];
    for (int r = 0; r < ids.length; r++) {
      System.arraycopy(full, ids[r] * hidden, world, r * hidden, hidden);
    }
    int other = -1;
    for (int id = 0; id < vocabSize && other < 0; id++) {
      if (!contains(id)) {
        other = id;
      }
    }
    if (other >= 0) {
      System.arraycopy(full, other * hidden, world, ids.length * hidden, hidden);
    }
    return world;
  }
}
