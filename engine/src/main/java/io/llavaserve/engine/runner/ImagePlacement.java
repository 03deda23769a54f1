package io.llavaserve.engine.runner;

/**
 * Places rows of an image's features at consecutive positions of a chunk. A prefill chunk may cut
 * an image in two, so a placement names the first row and how many rows it covers.
 *
 * @param chunkOffset index of the first covered token within the chunk
 * @param features the image's projected features
 * @param firstRow first feature row placed
 * @param rowCount rows placed, at chunk positions {@code chunkOffset .. chunkOffset+rowCount-1}
 */
public record ImagePlacement(int chunkOffset, ImageFeatures features, int firstRow, int rowCount) {

  public ImagePlacement {
    if (chunkOffset < 0 || firstRow < 0 || rowCount <= 0 || firstRow + rowCount > features.rows()) {
      throw new IllegalArgumentException(
          "image placement rows ["
              + firstRow
              + ", "
              + (firstRow + rowCount)
              + ") outside the image's "
              + features.rows()
              + " rows");
    }
  }
}
