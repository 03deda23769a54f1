package io.llavaserve.engine.config;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.List;

/**
 * LLaVA-NeXT's any-resolution scheme ({@code image_grid_pinpoints}): an image is resized, keeping
 * its aspect ratio, into the pinpoint resolution that keeps most of its pixels, padded to it, and
 * cut into tower-sized tiles; the whole image squashed to one tile comes first. The tiles' features
 * are re-assembled into one feature map, un-padded back to the image's aspect ratio, and a newline
 * row ends every row of it. An image's position count therefore depends on its size.
 *
 * <p>All the arithmetic here is transformers' (image_processing_utils {@code
 * select_best_resolution}, modeling_llava_next {@code get_anyres_image_grid_shape} and {@code
 * unpad_image}, processing_llava_next {@code _get_number_of_features}), in the same double
 * precision and with the same roundings, so the count always equals the features the model packs.
 *
 * @param pinpoints the resolutions an image may be tiled at, in the config's order (ties keep the
 *     first)
 * @param tileSize a tile's side in pixels: the tower's {@code image_size}
 * @param patchesPerSide a tile's feature-map side ({@code image_size / patch_size})
 */
public record AnyResolution(List<Resolution> pinpoints, int tileSize, int patchesPerSide) {

  /** llava-v1.6's pinpoints, {@code LlavaNextConfig}'s default: 2 to 4 tiles of 336 px. */
  public static final List<Resolution> LLAVA_V1_6_PINPOINTS =
      List.of(
          new Resolution(336, 672),
          new Resolution(672, 336),
          new Resolution(672, 672),
          new Resolution(1008, 336),
          new Resolution(336, 1008));

  /**
   * A height and a width in pixels, in transformers' (height, width) order.
   *
   * @param height rows
   * @param width columns
   */
  public record Resolution(int height, int width) {
    public Resolution {
      if (height <= 0 || width <= 0) {
        throw new IllegalArgumentException(
            "a resolution must be positive, got [" + height + ", " + width + "]");
      }
    }

    @Override
    public String toString() {
      return "[" + height + ", " + width + "]";
    }
  }

  /**
   * Where an image's grid features go: the tile grid, and the part of the re-assembled feature map
   * (in feature rows and columns) that un-padding keeps.
   *
   * @param gridRows tiles down (the base tile not counted)
   * @param gridCols tiles across
   * @param top first kept feature row of the {@code gridRows * patchesPerSide} high map
   * @param left first kept feature column
   * @param rows feature rows kept; each ends with a newline position
   * @param cols feature columns kept
   */
  public record FeatureLayout(int gridRows, int gridCols, int top, int left, int rows, int cols) {

    /** Grid tiles (the base tile not counted). */
    public int gridTiles() {
      return gridRows * gridCols;
    }
  }

  public AnyResolution {
    pinpoints = List.copyOf(pinpoints);
    if (pinpoints.isEmpty()) {
      throw new IllegalArgumentException("image_grid_pinpoints must not be empty");
    }
    if (tileSize <= 0 || patchesPerSide <= 0) {
      throw new IllegalArgumentException(
          "tile size and patches per side must be positive, got "
              + tileSize
              + ", "
              + patchesPerSide);
    }
    for (Resolution r : pinpoints) {
      // transformers cuts tiles with range(0, height, tile) but counts them with height // tile;
      // the two agree only on whole tiles.
      if (r.height() % tileSize != 0 || r.width() % tileSize != 0) {
        throw new IllegalArgumentException(
            "image_grid_pinpoints: "
                + r
                + " is not a whole number of "
                + tileSize
                + " px tiles (vision_config.image_size)");
      }
    }
  }

  /** llava-v1.6's pinpoints scaled to a tower of {@code tileSize} px. */
  public static List<Resolution> llavaV16Pinpoints(int tileSize) {
    return LLAVA_V1_6_PINPOINTS.stream()
        .map(r -> new Resolution(r.height() / 336 * tileSize, r.width() / 336 * tileSize))
        .toList();
  }

  /**
   * {@code select_best_resolution}: the pinpoint at which the image, scaled to fit inside it
   * keeping its aspect ratio, keeps the most of its own pixels (never counting more than it has),
   * and among those the one that wastes the least area.
   */
  public Resolution bestResolution(int height, int width) {
    return bestResolution(pinpoints, height, width);
  }

  /** {@link #bestResolution(int, int)} among {@code pinpoints}. */
  public static Resolution bestResolution(List<Resolution> pinpoints, int height, int width) {
    checkSize(height, width);
    Resolution best = null;
    long maxEffective = 0;
    long minWasted = Long.MAX_VALUE;
    for (Resolution r : pinpoints) {
      double scale = Math.min((double) r.width() / width, (double) r.height() / height);
      long downW = (long) (width * scale);
      long downH = (long) (height * scale);
      long effective = Math.min(downW * downH, (long) width * height);
      long wasted = (long) r.width() * r.height() - effective;
      if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
        maxEffective = effective;
        minWasted = wasted;
        best = r;
      }
    }
    return best;
  }

  /**
   * {@code get_patch_output_size}: the size the image is resized to inside {@code target}, keeping
   * its aspect ratio; the side that limits the scale fills the target, the other is rounded up (and
   * never past the target).
   */
  public static Resolution resizedInside(int height, int width, Resolution target) {
    checkSize(height, width);
    double scaleW = (double) target.width() / width;
    double scaleH = (double) target.height() / height;
    if (scaleW < scaleH) {
      return new Resolution(
          (int) Math.min(Math.ceil(height * scaleW), target.height()), target.width());
    }
    return new Resolution(
        target.height(), (int) Math.min(Math.ceil(width * scaleH), target.width()));
  }

  /** Tiles one image of this size becomes: the base tile plus its grid. */
  public int tiles(int height, int width) {
    Resolution best = bestResolution(height, width);
    return 1 + (best.height() / tileSize) * (best.width() / tileSize);
  }

  /** The most tiles any image becomes. */
  public int maxTiles() {
    int max = 0;
    for (Resolution r : pinpoints) {
      max = Math.max(max, 1 + (r.height() / tileSize) * (r.width() / tileSize));
    }
    return max;
  }

  /**
   * The grid of an image of {@code height x width} and what {@code unpad_image} keeps of its
   * feature map: the padded side shrinks by {@code (current - int(round(original * current / other,
   * 7))) // 2} at each end.
   */
  public FeatureLayout layout(int height, int width) {
    Resolution best = bestResolution(height, width);
    int gridRows = best.height() / tileSize;
    int gridCols = best.width() / tileSize;
    int currentH = gridRows * patchesPerSide;
    int currentW = gridCols * patchesPerSide;
    double originalAspect = (double) width / height;
    double currentAspect = (double) currentW / currentH;
    if (originalAspect > currentAspect) {
      int newH = roundTo7AndTruncate(height * ((double) currentW / width));
      int pad = Math.floorDiv(currentH - newH, 2);
      return new FeatureLayout(gridRows, gridCols, pad, 0, currentH - 2 * pad, currentW);
    }
    int newW = roundTo7AndTruncate(width * ((double) currentH / height));
    int pad = Math.floorDiv(currentW - newW, 2);
    return new FeatureLayout(gridRows, gridCols, 0, pad, currentH, currentW - 2 * pad);
  }

  /** Features of one tile: its whole feature map. */
  public int featuresPerTile() {
    return patchesPerSide * patchesPerSide;
  }

  /**
   * Positions one image of {@code height x width} fills: the base tile's features, the un-padded
   * grid features, and a newline per row of them (2,340 for 640 x 480 on llava-v1.6).
   */
  public int positions(int height, int width) {
    FeatureLayout l = layout(height, width);
    return featuresPerTile() + l.rows() * l.cols() + l.rows();
  }

  /** Python's {@code int(round(x, 7))}: round half to even at 7 decimals, then truncate. */
  static int roundTo7AndTruncate(double x) {
    return new BigDecimal(x).setScale(7, RoundingMode.HALF_EVEN).intValue();
  }

  private static void checkSize(int height, int width) {
    if (height <= 0 || width <= 0) {
      throw new IllegalArgumentException(
          "image size must be positive, got " + height + " x " + width);
    }
  }
}
