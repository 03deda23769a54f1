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
 * An independent plain-Java LLaVA-NeXT image path, written from transformers' modeling_llava_next
 * ({@code get_anyres_image_grid_shape}, {@code pack_image_features}, {@code unpad_image}) with
 * tensors as nested arrays: each tile through {@link ReferenceLlava}'s tower and projector, then
 * the grid's features viewed as {@code [rows, cols, P, P, C]}, permuted to {@code [C, rows * P,
 * cols * P]}, un-padded, a newline column appended, flattened and transposed, after the base tile's
 * features. It shares no code with the graph's packing or with {@link AnyResolution}'s arithmetic;
 * only the pinpoints are read from the config.
 */
final class ReferenceLlavaNext {

  private final Checkpoint ckpt;
  private final LlavaConfig cfg;
  private final ReferenceLlava tower;

  ReferenceLlavaNext(Checkpoint ckpt) {
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
    // get_anyres_image_grid_shape: select_best_resolution on (height, width), then // tile.
    int[] best = selectBestResolution(image.imageHeight(), image.imageWidth());
    int gridH = best[0] / side;
    int gridW = best[1] / side;
    if (tiles.size() != 1 + gridH * gridW) {
      throw new AssertionError(tiles.size() + " tiles for a " + gridH + " x " + gridW + " grid");
    }
    // view(gridH, gridW, P, P, C).permute(4, 0, 2, 1, 3).flatten(1, 2).flatten(2, 3)
    int height = gridH * p;
    int width = gridW * p;
    float[][][] map = new float[c][height][width];
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
    // cat(newline[:, None, None].expand(C, H, 1), dim=-1).flatten(1, 2).transpose(0, 1)
    float[] newline = ckpt.tensor("image_newline").toFloatArray();
    int rows = map[0].length;
    int cols = rows == 0 ? 0 : map[0][0].length;
    List<float[]> out = new ArrayList<>();
    out.addAll(List.of(tiles.get(0)));
    for (int y = 0; y < rows; y++) {
      for (int x = 0; x <= cols; x++) {
        float[] v = new float[c];
        for (int ch = 0; ch < c; ch++) {
          v[ch] = x < cols ? map[ch][y][x] : newline[ch];
        }
        out.add(v);
      }
    }
    float[] flat = new float[out.size() * c];
    for (int r = 0; r < out.size(); r++) {
      System.arraycopy(out.get(r), 0, flat, r * c, c);
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
      int newHeight = pythonIntRound7(originalHeight * scale);
      int padding = Math.floorDiv(currentHeight - newHeight, 2);
      y0 = padding;
      y1 = currentHeight - padding;
    } else {
      double scale = (double) currentHeight / originalHeight;
      int newWidth = pythonIntRound7(originalWidth * scale);
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

  /** {@code int(round(x, 7))}. */
  private static int pythonIntRound7(double x) {
    return new BigDecimal(x).setScale(7, RoundingMode.HALF_EVEN).intValue();
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
