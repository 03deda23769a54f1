package io.llavaserve.engine.runner;

/**
 * One image's projected features: the rows that take the place of its image-token positions.
 *
 * @param rows positions the image occupies ({@code image_seq_length})
 * @param width the language model's hidden size
 * @param data row-major {@code [rows, width]}
 */
public record ImageFeatures(int rows, int width, float[] data) {

  public ImageFeatures {
    if (rows <= 0 || width <= 0 || data.length != (long) rows * width) {
      throw new IllegalArgumentException(
          "image features must hold rows x width = " + rows + " x " + width + " floats");
    }
  }

  /** Bytes the features take on the heap, for cache accounting. */
  public long sizeBytes() {
    return 4L * data.length;
  }
}
