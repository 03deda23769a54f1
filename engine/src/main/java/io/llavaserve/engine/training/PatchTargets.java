package io.llavaserve.engine.training;

import io.llavaserve.engine.training.world.PlacedShape;
import io.llavaserve.engine.training.world.Region;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.ShapeColor;
import io.llavaserve.engine.training.world.ShapeKind;

/**
 * What the tower is taught to see in one scene, per patch and per image, in the frame the tower
 * sees: the image padded to a square (centred, as {@code expand2square} pastes it) and resized to
 * {@code side}, cut into {@code grid x grid} patches.
 *
 * <p>A shape covers the patches whose middle lies inside its box, and always the patch holding the
 * centre of its box. Covered patches are labelled with the shape's colour and kind, so that every
 * part of a shape learns what it is part of; the centre patch is also marked as a centre and
 * labelled with the shape's {@link Region}. Patches no shape covers carry no colour or kind. When
 * two shapes claim one patch (small shapes in a very elongated image), the larger keeps it. Per
 * image: how many shapes, and how many of each colour and of each kind; per covered patch, how many
 * of the scene's shapes share its shape's colour and how many its kind.
 *
 * @param centre [grid * grid] 1 where a shape's centre lies, else 0
 * @param color [grid * grid] colour ordinal of the covering shape, -1 where none covers
 * @param kind [grid * grid] kind ordinal of the covering shape, -1 where none covers
 * @param region [grid * grid] region ordinal at centres, -1 elsewhere
 * @param count shapes in the scene, 1 to {@link Scene#MAX_SHAPES}
 * @param colorCounts [colours] shapes of each colour
 * @param kindCounts [kinds] shapes of each kind
 * @param colorShare [grid * grid] shapes of the covering shape's colour (1 or more), -1 where none
 *     covers
 * @param kindShare [grid * grid] shapes of the covering shape's kind, -1 where none covers
 */
record PatchTargets(
    float[] centre,
    int[] color,
    int[] kind,
    int[] region,
    int count,
    int[] colorCounts,
    int[] kindCounts,
    int[] colorShare,
    int[] kindShare) {

  static final int COLORS = ShapeColor.values().length;
  static final int KINDS = ShapeKind.values().length;
  static final int REGIONS = Region.values().length;

  /** Count classes per colour or kind: none to {@link Scene#MAX_SHAPES}. */
  static final int COUNTS = Scene.MAX_SHAPES + 1;

  static PatchTargets of(Scene scene, int side, int grid) {
    int cells = grid * grid;
    float[] centre = new float[cells];
    int[] color = filled(cells);
    int[] kind = filled(cells);
    int[] region = filled(cells);
    double[] owner = new double[cells];
    double[] centreOwner = new double[cells];
    int[] colorCounts = new int[COLORS];
    int[] kindCounts = new int[KINDS];
    int square = Math.max(scene.width(), scene.height());
    int left = (square - scene.width()) / 2;
    int top = (square - scene.height()) / 2;
    double scale = (double) side / square;
    double patch = (double) side / grid;
    for (PlacedShape s : scene.shapes()) {
      colorCounts[s.color().ordinal()]++;
      kindCounts[s.kind().ordinal()]++;
      double x0 = (s.left() + left) * scale;
      double x1 = (s.right() + left) * scale;
      double y0 = (s.top() + top) * scale;
      double y1 = (s.bottom() + top) * scale;
      int column = cell((s.centerX() + left) * scale, patch, grid);
      int row = cell((s.centerY() + top) * scale, patch, grid);
      for (int r = 0; r < grid; r++) {
        for (int q = 0; q < grid; q++) {
          double mx = (q + 0.5) * patch;
          double my = (r + 0.5) * patch;
          boolean inside = mx >= x0 && mx < x1 && my >= y0 && my < y1;
          int c = r * grid + q;
          if ((inside || (r == row && q == column)) && owner[c] < s.size()) {
            owner[c] = s.size();
            color[c] = s.color().ordinal();
            kind[c] = s.kind().ordinal();
          }
        }
      }
      int c = row * grid + column;
      if (centreOwner[c] < s.size()) {
        centreOwner[c] = s.size();
        centre[c] = 1f;
        region[c] = Region.of(scene, s).ordinal();
      }
    }
    int[] colorShare = filled(cells);
    int[] kindShare = filled(cells);
    for (int c = 0; c < cells; c++) {
      if (kind[c] >= 0) {
        colorShare[c] = colorCounts[color[c]];
        kindShare[c] = kindCounts[kind[c]];
      }
    }
    return new PatchTargets(
        centre,
        color,
        kind,
        region,
        scene.shapes().size(),
        colorCounts,
        kindCounts,
        colorShare,
        kindShare);
  }

  private static int cell(double position, double patch, int grid) {
    return Math.max(0, Math.min(grid - 1, (int) Math.floor(position / patch)));
  }

  private static int[] filled(int n) {
    int[] a = new int[n];
    java.util.Arrays.fill(a, -1);
    return a;
  }
}
