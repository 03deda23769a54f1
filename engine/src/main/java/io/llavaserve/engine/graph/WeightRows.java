package io.llavaserve.engine.graph;

/**
 * A Linear weight's rows in the checkpoint's [out, in] layout, read one at a time while the weight
 * is quantized on the host: row {@code r} holds output r's inputs.
 */
interface WeightRows {
  /** Fills {@code dst[0, in)} with row {@code row}. */
  void read(int row, float[] dst);

  /** Names element [row, column] for an error message: the file, the tensor, the index. */
  String element(int row, int column);
}
