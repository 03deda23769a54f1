package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.image.PixelValues;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;

/**
 * An independent plain-Java LLaVA-OneVision image path, written from transformers'
 * modeling_llava_onevision ({@code pack_image_features}, {@code unpad_image}, {@code
 * get_anyres_image_grid_shape}) and PyTorch's {@code interpolate(mode="bilinear")}, with tensors as
 * nested arrays: each tile through {@link ReferenceLlava}'s tower and projector; an image of one
 * tile (one of several in its prompt) is its features and the newline; a tiled image's grid
 * features are viewed as {@code [rows, cols, P, P, C]}, permuted to {@code [C, rows * P, cols *
 * P]}, un-padded, shrunk by bilinear interpolation when {@code sqrt(h * w / (N * P^2)) > 1.1}, a
 * newline column appended, flattened and transposed, after the base tile's features. It shares no
 * code with the graph's packing, {@link TilePacking}'s weights or {@link AnyResolution}'s
 * arithmetic; only the pinpoints and {@code anyres_max_N} are read from the config.
 */
final class ReferenceLlavaOnevision {

  private final Checkpoint ckpt;
  private final LlavaConfig cfg;
  private final ReferenceLlava tower;

  ReferenceLlavaOnevision(Checkpoint ckpt) {
    this.ckpt = ckpt;
    this.cfg = ckpt.config();
    this.tower = new ReferenceLlava(ckpt);
  }

  /** The packed features of one image, {@code [rows * text_hidden]}. */
  float[] imageFeatures(PixelValues image) throws CheckpointException {
    int c = cfg.text().hiddenSize();
    int side = cfg.vision().imageSize();
    int p = side / cfg.vision().patchSize();
    int perTile = image.tileLength();
    List<float[][]> tiles = new ArrayList<>(); // each [P * P][C]
    for (int t = 0; t < image.tiles(); t++) {
      float[] pixels = new float[perTile];
      System.arraycopy(image.data(), t * perTile, pixels, 0, perTile);
      float[] f = tower.imageFeatures(pixels);
      float[][] rows = new float[f.length / c][c];
      for (int r = 0; r < rows.length; r++) {
        System.arraycopy(f, r * c, rows[r], 0, c);
      }
      tiles.add(rows);
    }
    float[] newline = ckpt.tensor("image_newline").toFloatArray();
    List<float[]> out = new ArrayList<>(List.of(tiles.get(0)));
    if (tiles.size() == 1) {
      // image_feature[0] then cat(image_newline[None]): one of several images.
      out.add(newline);
      return flatten(out, c);
    }
    int[] best = selectBestResolution(image.imageHeight(), image.imageWidth());
    int gridH = best[0] / side;
    int gridW = best[1] / side;
    if (tiles.size() != 1 + gridH * gridW) {
      throw new AssertionError(tiles.size() + " tiles for a " + gridH + " x " + gridW + " grid");
    }
    // view(gridH, gridW, P, P, C).permute(4, 0, 2, 1, 3).flatten(1, 2).flatten(2, 3)
    float[][][] map = new float[c][gridH * p][gridW * p];
    for (int th = 0; th < gridH; th++) {
      for (int tw = 0; tw < gridW; tw++) {
        float[][] tile = tiles.get(1 + th * gridW + tw);
        for (int py = 0; py < p; py++) {
          for (int px = 0; px < p; px++) {
            for (int ch = 0; ch < c; ch++) {
              map[ch][th * p + py][tw * p + px] = tile[py * p + px][ch];
            }
          }
        }
      }
    }
    map = unpad(map, image.imageHeight(), image.imageWidth());
    int h = map[0].length;
    int w = h == 0 ? 0 : map[0][0].length;
    int maxNumPatches = cfg.anyResolution().anyresMax();
    double ratio = Math.sqrt(h * w / (double) (maxNumPatches * p * p));
    if (ratio > 1.1) {
      map =
          interpolateBilinear(map, (int) pythonFloorDiv(h, ratio), (int) pythonFloorDiv(w, ratio));
    }
    int rows = map[0].length;
    int cols = rows == 0 ? 0 : map[0][0].length;
    for (int y = 0; y < rows; y++) {
      for (int x = 0; x <= cols; x++) {
        float[] v = new float[c];
        for (int ch = 0; ch < c; ch++) {
          v[ch] = x < cols ? map[ch][y][x] : newline[ch];
        }
        out.add(v);
      }
    }
    return flatten(out, c);
  }

  /**
   * {@code F.interpolate(t[None], [outH, outW], mode="bilinear")[0]} on {@code [C, H, W]}: no
   * corner alignment, the scale {@code in / out} per axis, each output at source {@code max((dst +
   * 0.5) * in / out - 0.5, 0)}, mixing its two neighbours on each axis (the last row and column
   * their own neighbour), in double precision.
   */
  static float[][][] interpolateBilinear(float[][][] t, int outH, int outW) {
    int inH = t[0].length;
    int inW = t[0][0].length;
    float[][][] out = new float[t.length][outH][outW];
    for (int oy = 0; oy < outH; oy++) {
      double sy = Math.max((oy + 0.5) * inH / outH - 0.5, 0);
      int y0 = (int) Math.floor(sy);
      int y1 = Math.min(y0 + 1, inH - 1);
      double fy = sy - y0;
      for (int ox = 0; ox < outW; ox++) {
        double sx = Math.max((ox + 0.5) * inW / outW - 0.5, 0);
        int x0 = (int) Math.floor(sx);
        int x1 = Math.min(x0 + 1, inW - 1);
        double fx = sx - x0;
        for (int ch = 0; ch < t.length; ch++) {
          double top = (1 - fx) * t[ch][y0][x0] + fx * t[ch][y0][x1];
          double bottom = (1 - fx) * t[ch][y1][x0] + fx * t[ch][y1][x1];
          out[ch][oy][ox] = (float) ((1 - fy) * top + fy * bottom);
        }
      }
    }
    return out;
  }

  /**
   * Python's {@code a // b} on positive floats (CPython's {@code float_floor_div}): {@code (a -
   * fmod(a, b)) / b}, Java's {@code %} being fmod, then its floor, one up when that is more than
   * half below.
   */
  static double pythonFloorDiv(double a, double b) {
    double div = (a - a % b) / b;
    double f = Math.floor(div);
    return div - f > 0.5 ? f + 1 : f;
  }

  private static float[] flatten(List<float[]> rows, int c) {
    float[] flat = new float[rows.size() * c];
    for (int r = 0; r < rows.size(); r++) {
      System.arraycopy(rows.get(r), 0, flat, r * c, c);
    }
    return flat;
  }

  /** unpad_image on a [C, H, W] tensor for an image of (height, width). */
  private static float[][][] unpad(float[][][] t, int originalHeight, int originalWidth) {
    int currentHeight = t[0].length;
    int currentWidth = t[0][0].length;
    double originalAspect = (double) originalWidth / originalHeight;
    double currentAspect = (double) currentWidth / currentHeight;
    int y0 = 0;
    int y1 = currentHeight;
    int x0 = 0;
    int x1 = currentWidth;
    if (originalAspect > currentAspect) {
      double scale = (double) currentWidth / originalWidth;
      int newHeight =
          new BigDecimal(originalHeight * scale).setScale(7, RoundingMode.HALF_EVEN).intValue();
      int padding = Math.floorDiv(currentHeight - newHeight, 2);
      y0 = padding;
      y1 = currentHeight - padding;
    } else {
      double scale = (double) currentHeight / originalHeight;
      int newWidth =
          new BigDecimal(originalWidth * scale).setScale(7, RoundingMode.HALF_EVEN).intValue();
      int padding = Math.floorDiv(currentWidth - newWidth, 2);
      x0 = padding;
      x1 = currentWidth - padding;
    }
    float[][][] out = new float[t.length][y1 - y0][x1 - x0];
    for (int ch = 0; ch < t.length; ch++) {
      for (int y = y0; y < y1; y++) {
        System.arraycopy(t[ch][y], x0, out[ch][y - y0], 0, x1 - x0);
      }
    }
    return out;
  }

  /** select_best_resolution: most effective pixels, then least waste; {height, width}. */
  private int[] selectBestResolution(int height, int width) {
    int[] best = null;
    long maxEffective = 0;
    double minWasted = Double.POSITIVE_INFINITY;
    for (AnyResolution.Resolution r : cfg.anyResolution().pinpoints()) {
      double scale = Math.min(r.width() / (double) width, r.height() / (double) height);
      long dw = (long) (width * scale);
      long dh = (long) (height * scale);
      long effective = Math.min(dw * dh, (long) width * height);
      double wasted = (double) r.width() * r.height() - effective;
      if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
        maxEffective = effective;
        minWasted = wasted;
        best = new int[] {r.height(), r.width()};
      }
    }
    return best;
  }
}
