package io.llavaserve.engine.graph;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.image.PixelValues;
import java.util.List;

/**
 * Where each packed llava_next feature row comes from: the host half of {@link VisionTower}'s pack.
 * The vision run projects every tile of every image to {@code featuresPerTile} rows, one image's
 * tiles after another ({@code [tiles, P * P]} rows, P patches a side); the pack gathers, per image,
 * the base tile's rows, then the grid tiles' rows as one {@code [gridRows * P, gridCols * P]}
 * feature map read row-major over the part {@link AnyResolution#layout} keeps, with the newline row
 * (the row after all the tiles' rows) after each of its rows, as transformers' {@code
 * pack_image_features} does with views, a permute, {@code unpad_image} and a concatenation.
 *
 * <p>Every packed row is one source row here. LLaVA-OneVision's {@code anyres_max_9} reduces a map
 * with more than 9 tiles' worth of features by bilinear interpolation, which makes a packed row a
 * weighted sum of (up to four) source rows: the same plan with a weight per source, and the graph's
 * gather becomes a weighted sum of gathers.
 *
 * @param index {@code [rows]} source row of each packed row
 * @param rowsPerImage packed rows of each image, in order
 */
record TilePacking(int[] index, int[] rowsPerImage) {

  /**
   * The plan for {@code images} (each a llava_next image: tiles and its size) whose tiles were run
   * in order.
   */
  static TilePacking plan(List<PixelValues> images, AnyResolution anyres) {
    int kept = anyres.featuresPerTile();
    int p = anyres.patchesPerSide();
    int[] rows = new int[images.size()];
    long total = 0;
    int tiles = 0;
    for (int i = 0; i < images.size(); i++) {
      PixelValues img = images.get(i);
      rows[i] = anyres.positions(img.imageHeight(), img.imageWidth());
      total += rows[i];
      tiles += img.tiles();
    }
    int newline = tiles * kept;
    int[] index = new int[Math.toIntExact(total)];
    int out = 0;
    int firstTile = 0;
    for (PixelValues img : images) {
      AnyResolution.FeatureLayout l = anyres.layout(img.imageHeight(), img.imageWidth());
      for (int r = 0; r < kept; r++) {
        index[out++] = firstTile * kept + r;
      }
      for (int y = l.top(); y < l.top() + l.rows(); y++) {
        for (int x = l.left(); x < l.left() + l.cols(); x++) {
          int tile = firstTile + 1 + (y / p) * l.gridCols() + x / p;
          index[out++] = tile * kept + (y % p) * p + x % p;
        }
        index[out++] = newline;
      }
      firstTile += img.tiles();
    }
    return new TilePacking(index, rows);
  }
}
