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
 * <p>LLaVA-OneVision ({@code vision_aspect_ratio: anyres_max_N}) adds two rules. An un-padded map
 * larger than N tiles' worth of features (by a linear factor {@code ratio = sqrt(rows * cols / (N *
 * P^2))} over 1.1) is shrunk by bilinear interpolation to {@code int(rows // ratio) x int(cols //
 * ratio)} before the newlines; and an image that shares its prompt with other images is not tiled
 * at all: it runs as one tile, whose features and one newline are its positions.
 *
 * <p>All the arithmetic here is transformers' (image_processing_utils {@code
 * select_best_resolution}, modeling_llava_next {@code get_anyres_image_grid_shape} and {@code
 * unpad_image}, processing_llava_next and processing_llava_onevision {@code
 * _get_number_of_features}, modeling_llava_onevision {@code pack_image_features}), in the same
 * double precision and with the same roundings (Python's float floor division included), so the
 * count always equals the features the model packs.
 *
 * @param pinpoints the resolutions an image may be tiled at, in the config's order (ties keep the
 *     first)
 * @param tileSize a tile's side in pixels: the tower's {@code image_size}
 * @param patchesPerSide a tile's feature-map side ({@code image_size / patch_size})
 * @param anyresMax LLaVA-OneVision's N of {@code anyres_max_N}; 0 for LLaVA-NeXT, which never
 *     reduces a map and tiles every image
 */
public record AnyResolution(
    List<Resolution> pinpoints, int tileSize, int patchesPerSide, int anyresMax) {

  /**
   * LLaVA-OneVision's pinpoints ({@code LlavaOnevisionConfig}'s default, 36 of them): 1 to 6 tiles
   * of 384 px down and across.
   */
  public static final List<Resolution> ONEVISION_PINPOINTS = onevisionPinpoints(384);

  /** {@code vision_aspect_ratio} when a llava_onevision config has none. */
  public static final int ONEVISION_ANYRES_MAX = 9;

  /** Un-padded maps up to this factor past {@code anyres_max_N}'s size are kept whole. */
  private static final double REDUCTION_THRESHOLD = 1.1;

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
   * Where an image's grid features go: the tile grid, the part of the re-assembled feature map (in
   * feature rows and columns) that un-padding keeps, and the size that part is packed at.
   *
   * @param gridRows tiles down (the base tile not counted)
   * @param gridCols tiles across
   * @param top first kept feature row of the {@code gridRows * patchesPerSide} high map
   * @param left first kept feature column
   * @param rows feature rows kept
   * @param cols feature columns kept
   * @param packedRows rows after {@code anyres_max_N}'s bilinear reduction ({@code rows} when the
   *     map is not reduced); each ends with a newline position
   * @param packedCols columns after the reduction ({@code cols} when not reduced)
   */
  public record FeatureLayout(
      int gridRows,
      int gridCols,
      int top,
      int left,
      int rows,
      int cols,
      int packedRows,
      int packedCols) {

    /** A layout that packs the kept map as it is (LLaVA-NeXT's, or a map within the limit). */
    public FeatureLayout(int gridRows, int gridCols, int top, int left, int rows, int cols) {
      this(gridRows, gridCols, top, left, rows, cols, rows, cols);
    }

    /** Grid tiles (the base tile not counted). */
    public int gridTiles() {
      return gridRows * gridCols;
    }

    /** Whether the kept map is shrunk by bilinear interpolation before packing. */
    public boolean reduced() {
      return packedRows != rows || packedCols != cols;
    }
  }

  /** LLaVA-NeXT's scheme: every image tiled, no map reduced. */
  public AnyResolution(List<Resolution> pinpoints, int tileSize, int patchesPerSide) {
    this(pinpoints, tileSize, patchesPerSide, 0);
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
    if (anyresMax < 0) {
      throw new IllegalArgumentException(
          "vision_aspect_ratio: anyres_max_" + anyresMax + " must name a positive tile count");
    }
    if (anyresMax > 0) {
      // A kept map h features high and w wide packs h // ratio = P * sqrt(N * h / w) rows; at
      // worst (h = 1, w the widest grid's P * tiles) that is sqrt(N * P / tiles), at least one row
      // when N * P exceeds the widest grid's tiles. Below that transformers' interpolate fails on
      // an empty size, so such a config is refused here.
      int widest = 0;
      for (Resolution r : pinpoints) {
        widest = Math.max(widest, Math.max(r.height(), r.width()) / tileSize);
      }
      if ((long) anyresMax * patchesPerSide <= widest) {
        throw new IllegalArgumentException(
            "vision_aspect_ratio: anyres_max_"
                + anyresMax
                + " with "
                + patchesPerSide
                + " patches a side would shrink a one-feature strip of a "
                + widest
                + "-tile grid to nothing");
      }
    }
  }

  /**
   * LLaVA-OneVision's scheme: {@code pinpoints} tiles with maps past {@code anyresMax} tiles' worth
   * reduced, and only a prompt's lone image tiled.
   */
  public static AnyResolution onevision(
      List<Resolution> pinpoints, int tileSize, int patchesPerSide, int anyresMax) {
    if (anyresMax <= 0) {
      throw new IllegalArgumentException(
          "vision_aspect_ratio: anyres_max_" + anyresMax + " must name a positive tile count");
    }
    return new AnyResolution(pinpoints, tileSize, patchesPerSide, anyresMax);
  }

  /** LLaVA-OneVision's pinpoints at a tower of {@code tileSize} px: 1 to 6 tiles each way. */
  public static List<Resolution> onevisionPinpoints(int tileSize) {
    List<Resolution> out = new java.util.ArrayList<>();
    for (int h = 1; h <= 6; h++) {
      for (int w = 1; w <= 6; w++) {
        out.add(new Resolution(h * tileSize, w * tileSize));
      }
    }
    return List.copyOf(out);
  }

  /**
   * Whether this is LLaVA-OneVision's scheme ({@code anyres_max_N}): maps past N tiles' worth are
   * reduced, and the images of a prompt with several run as one tile each.
   */
  public boolean isOneVision() {
    return anyresMax > 0;
  }

  /**
   * Whether an image among {@code imagesInPrompt} is tiled: always for LLaVA-NeXT; for
   * LLaVA-OneVision only a prompt's lone image (transformers' {@code need_patching}, {@code
   * batch_num_images == 1}).
   */
  public boolean tilesImageAmong(int imagesInPrompt) {
    return !isOneVision() || imagesInPrompt == 1;
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

  /** Tiles one tiled image of this size becomes: the base tile plus its grid. */
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
   * The grid of an image of {@code height x width}, what {@code unpad_image} keeps of its feature
   * map (the padded side shrinks by {@code (current - int(round(original * current / other, 7))) //
   * 2} at each end), and, for {@code anyres_max_N}, the size the kept map is reduced to.
   */
  public FeatureLayout layout(int height, int width) {
    Resolution best = bestResolution(height, width);
    int gridRows = best.height() / tileSize;
    int gridCols = best.width() / tileSize;
    int currentH = gridRows * patchesPerSide;
    int currentW = gridCols * patchesPerSide;
    double originalAspect = (double) width / height;
    double currentAspect = (double) currentW / currentH;
    int top = 0;
    int left = 0;
    int rows = currentH;
    int cols = currentW;
    if (originalAspect > currentAspect) {
      int newH = roundTo7AndTruncate(height * ((double) currentW / width));
      top = Math.floorDiv(currentH - newH, 2);
      rows = currentH - 2 * top;
    } else {
      int newW = roundTo7AndTruncate(width * ((double) currentH / height));
      left = Math.floorDiv(currentW - newW, 2);
      cols = currentW - 2 * left;
    }
    if (isOneVision()) {
      // pack_image_features: ratio = math.sqrt(h * w / (max_num_patches * P**2)), both sides
      // int(side // ratio) when ratio > 1.1.
      double ratio =
          Math.sqrt(
              (double) ((long) rows * cols)
                  / (double) ((long) anyresMax * patchesPerSide * patchesPerSide));
      if (ratio > REDUCTION_THRESHOLD) {
        return new FeatureLayout(
            gridRows,
            gridCols,
            top,
            left,
            rows,
            cols,
            (int) pythonFloorDiv(rows, ratio),
            (int) pythonFloorDiv(cols, ratio));
      }
    }
    return new FeatureLayout(gridRows, gridCols, top, left, rows, cols);
  }

  /**
   * The most positions a tiled image can fill, bounded over every pinpoint's grid and every extent
   * un-padding can keep (the padded side shrinks by an even number of rows or columns):
   * LLaVA-NeXT's largest grid whole; for LLaVA-OneVision a map just under the reduction's
   * threshold, which packs more than a reduced one (8,829 on llava-onevision-qwen2, against 7,371
   * for a square image).
   */
  public int maxPositions() {
    int most = 0;
    for (Resolution r : pinpoints) {
      int h = r.height() / tileSize * patchesPerSide;
      int w = r.width() / tileSize * patchesPerSide;
      for (int rows = h; rows > 0; rows -= 2) {
        most = Math.max(most, packedPositions(rows, w));
      }
      for (int cols = w; cols > 0; cols -= 2) {
        most = Math.max(most, packedPositions(h, cols));
      }
    }
    return most;
  }

  /**
   * Positions of a kept map of {@code rows x cols}, after the base tile, reduced as it would be.
   */
  private int packedPositions(int rows, int cols) {
    int outRows = rows;
    int outCols = cols;
    if (isOneVision()) {
      double ratio =
          Math.sqrt(
              (double) ((long) rows * cols)
                  / (double) ((long) anyresMax * patchesPerSide * patchesPerSide));
      if (ratio > REDUCTION_THRESHOLD) {
        outRows = (int) pythonFloorDiv(rows, ratio);
        outCols = (int) pythonFloorDiv(cols, ratio);
      }
    }
    return featuresPerTile() + outRows * outCols + outRows;
  }

  /** Features of one tile: its whole feature map. */
  public int featuresPerTile() {
    return patchesPerSide * patchesPerSide;
  }

  /**
   * Positions one tiled image of {@code height x width} fills: the base tile's features, the
   * un-padded (and for {@code anyres_max_N} perhaps reduced) grid features, and a newline per row
   * of them (2,340 for 640 x 480 on llava-v1.6).
   */
  public int positions(int height, int width) {
    FeatureLayout l = layout(height, width);
    return featuresPerTile() + l.packedRows() * l.packedCols() + l.packedRows();
  }

  /**
   * Positions an image run as {@code tiles} tiles fills: one tile (LLaVA-OneVision's image among
   * several) gives its features and one newline; a tiled image what its size gives ({@link
   * #positions(int, int)}).
   */
  public int positions(int tiles, int height, int width) {
    return tiles == 1 && isOneVision() ? featuresPerTile() + 1 : positions(height, width);
  }

  /**
   * Python's float floor division {@code a // b} (CPython's {@code float_floor_div}): the floor of
   * {@code (a - fmod(a, b)) / b}, rounded to the nearer integer, which is not always {@code floor(a
   * / b)} ({@code 1 // 0.1} is 9).
   */
  static double pythonFloorDiv(double a, double b) {
    double mod = a % b; // IEEE fmod, exact
    double div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0)) {
      div -= 1.0;
    }
    if (div == 0) {
      return Math.copySign(0.0, a / b);
    }
    double floor = Math.floor(div);
    return div - floor > 0.5 ? floor + 1.0 : floor;
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
