package io.llavaserve.engine.graph;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.image.PixelValues;
import java.util.List;

/**
 * Where each packed any-resolution feature row comes from: the host half of {@link VisionTower}'s
 * pack. The vision run projects every tile of every image to {@code featuresPerTile} rows, one
 * image's tiles after another ({@code [tiles, P * P]} rows, P patches a side); the pack takes, per
 * image, the base tile's rows, then the grid tiles' rows as one {@code [gridRows * P, gridCols *
 * P]} feature map read row-major over the part {@link AnyResolution#layout} keeps, with the newline
 * row (the row after all the tiles' rows) after each of its rows, as transformers' {@code
 * pack_image_features} does with views, a permute, {@code unpad_image} and a concatenation. A
 * LLaVA-OneVision image run as one tile (one of several in its prompt) packs its rows and one
 * newline.
 *
 * <p>LLaVA-OneVision's {@code anyres_max_N} shrinks a kept map past N tiles' worth with {@code
 * interpolate(mode="bilinear", align_corners=False)} to {@link
 * AnyResolution.FeatureLayout#packedRows} x {@code packedCols}: each packed row of such a map is a
 * weighted sum of the (up to) four kept rows around its source point, with PyTorch's weights. So a
 * plan has {@code taps} sources per packed row: 1 when no image of the run is reduced (a plain
 * gather), else 4 for every row, those that copy one row weighted 1, 0, 0, 0 (the graph's weighted
 * gather then gives that row exactly).
 *
 * @param index {@code [rows, taps]} row-major: the source rows of each packed row
 * @param weights {@code [rows, taps]}: each source's weight, or null when {@code taps} is 1
 * @param taps sources per packed row, 1 or 4
 * @param rowsPerImage packed rows of each image, in order
 */
public record TilePacking(int[] index, float[] weights, int taps, int[] rowsPerImage) {

  public TilePacking {
    if (taps != 1 && taps != 4) {
      throw new IllegalArgumentException("a packed row has 1 or 4 sources, got " + taps);
    }
    if ((taps == 1) != (weights == null)
        || index.length % taps != 0
        || (weights != null && weights.length != index.length)) {
      throw new IllegalArgumentException("index and weights disagree with " + taps + " taps");
    }
  }

  /** Packed rows of every image. */
  int rows() {
    return index.length / taps;
  }

  /**
   * The plan for {@code images} (each a tiled image with its size, or a LLaVA-OneVision image of
   * one tile) whose tiles were run in order.
   */
  public static TilePacking plan(List<PixelValues> images, AnyResolution anyres) {
    int[] rows = new int[images.size()];
    long total = 0;
    int tiles = 0;
    boolean reduced = false;
    for (int i = 0; i < images.size(); i++) {
      PixelValues img = images.get(i);
      rows[i] = anyres.positions(img.tiles(), img.imageHeight(), img.imageWidth());
      total += rows[i];
      tiles += img.tiles();
      reduced |= img.tiles() > 1 && anyres.layout(img.imageHeight(), img.imageWidth()).reduced();
    }
    int kept = anyres.featuresPerTile();
    Builder b = new Builder(Math.toIntExact(total), reduced ? 4 : 1, tiles * kept);
    int firstTile = 0;
    for (PixelValues img : images) {
      for (int r = 0; r < kept; r++) {
        b.copy(firstTile * kept + r);
      }
      if (img.tiles() == 1) {
        b.newline();
      } else {
        packGrid(b, anyres, anyres.layout(img.imageHeight(), img.imageWidth()), firstTile);
      }
      firstTile += img.tiles();
    }
    return b.build(rows);
  }

  /** The grid's kept map, reduced when the layout says so, a newline after each packed row. */
  private static void packGrid(
      Builder b, AnyResolution anyres, AnyResolution.FeatureLayout l, int firstTile) {
    int p = anyres.patchesPerSide();
    int kept = anyres.featuresPerTile();
    // Row of the tiles' features at (y, x) of the kept map.
    java.util.function.IntBinaryOperator source =
        (y, x) -> {
          int my = l.top() + y;
          int mx = l.left() + x;
          int tile = firstTile + 1 + (my / p) * l.gridCols() + mx / p;
          return tile * kept + (my % p) * p + mx % p;
        };
    if (!l.reduced()) {
      for (int y = 0; y < l.rows(); y++) {
        for (int x = 0; x < l.cols(); x++) {
          b.copy(source.applyAsInt(y, x));
        }
        b.newline();
      }
      return;
    }
    BilinearAxis down = BilinearAxis.of(l.rows(), l.packedRows());
    BilinearAxis across = BilinearAxis.of(l.cols(), l.packedCols());
    for (int oy = 0; oy < l.packedRows(); oy++) {
      for (int ox = 0; ox < l.packedCols(); ox++) {
        int y0 = down.index0[oy];
        int y1 = down.index1[oy];
        int x0 = across.index0[ox];
        int x1 = across.index1[ox];
        b.blend(
            source.applyAsInt(y0, x0),
            down.lambda0[oy] * across.lambda0[ox],
            source.applyAsInt(y0, x1),
            down.lambda0[oy] * across.lambda1[ox],
            source.applyAsInt(y1, x0),
            down.lambda1[oy] * across.lambda0[ox],
            source.applyAsInt(y1, x1),
            down.lambda1[oy] * across.lambda1[ox]);
      }
      b.newline();
    }
  }

  /** This plan with four taps a row (weights 1, 0, 0, 0 where it had one): the same packing. */
  TilePacking widened() {
    if (taps == 4) {
      return this;
    }
    int n = index.length;
    int[] wide = new int[n * 4];
    float[] w = new float[n * 4];
    for (int r = 0; r < n; r++) {
      java.util.Arrays.fill(wide, r * 4, r * 4 + 4, index[r]);
      w[r * 4] = 1f;
    }
    return new TilePacking(wide, w, 4, rowsPerImage);
  }

  /**
   * One axis of PyTorch's {@code upsample_bilinear2d} with {@code align_corners=False} and an
   * output size (no scale factor), in its float arithmetic: {@code scale = in / out}, source {@code
   * max(scale * (dst + 0.5) - 0.5, 0)}, the two neighbours {@code floor} and the next one (the same
   * at the edge), weights {@code 1 - frac} and {@code frac}. (PyTorch 2 computes the index in
   * float, its {@code opmath} type; 1.13 did in double from the same float scale: an ulp of the
   * index apart.)
   */
  record BilinearAxis(int[] index0, int[] index1, float[] lambda0, float[] lambda1) {

    static BilinearAxis of(int in, int out) {
      int[] i0 = new int[out];
      int[] i1 = new int[out];
      float[] l0 = new float[out];
      float[] l1 = new float[out];
      float scale = (float) in / out;
      for (int d = 0; d < out; d++) {
        float src = Math.max(scale * (d + 0.5f) - 0.5f, 0f);
        int lo = Math.min((int) src, in - 1);
        i0[d] = lo;
        i1[d] = lo + (lo < in - 1 ? 1 : 0);
        l1[d] = Math.min(Math.max(src - lo, 0f), 1f);
        l0[d] = 1f - l1[d];
      }
      return new BilinearAxis(i0, i1, l0, l1);
    }
  }

  /** Appends packed rows, each as {@code taps} sources. */
  private static final class Builder {
    private final int[] index;
    private final float[] weights;
    private final int taps;
    private final int newline;
    private int at;

    Builder(int rows, int taps, int newline) {
      this.taps = taps;
      this.newline = newline;
      this.index = new int[rows * taps];
      this.weights = taps == 1 ? null : new float[rows * taps];
    }

    void copy(int row) {
      for (int k = 0; k < taps; k++) {
        index[at + k] = row;
      }
      if (weights != null) {
        weights[at] = 1f;
      }
      at += taps;
    }

    void newline() {
      copy(newline);
    }

    void blend(int r0, float w0, int r1, float w1, int r2, float w2, int r3, float w3) {
      index[at] = r0;
      index[at + 1] = r1;
      index[at + 2] = r2;
      index[at + 3] = r3;
      weights[at] = w0;
      weights[at + 1] = w1;
      weights[at + 2] = w2;
      weights[at + 3] = w3;
      at += 4;
    }

    TilePacking build(int[] rowsPerImage) {
      if (at != index.length) {
        throw new IllegalStateException("planned " + at / taps + " of " + index.length / taps);
      }
      return new TilePacking(index, weights, taps, rowsPerImage);
    }
  }
}
