package io.llavaserve.engine.training.world;

import io.llavaserve.engine.image.RgbImage;
import java.awt.Color;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An independent reading of a rendered image: connected regions of non-background pixels, each
 * classified from its pixels alone, without the scene or the world's colour table.
 *
 * <p>The background is the top-left pixel (every shape keeps a margin from the border). A region's
 * fill is its most common pixel value; its colour word comes from the fill's hue. Its kind comes
 * from how much of its bounding box it covers, measured with anti-aliasing coverage so that it
 * holds down to 10-pixel shapes: a square fills ~1.0, a circle ~0.785, a triangle and a star ~0.5
 * and ~0.4. The last two overlap at the smallest sizes, so they are told apart by where the widest
 * row lies: at the bottom for an upright triangle, at the arms (38% down) for a star.
 */
final class Blobs {

  /** A pixel belongs to a shape when some channel is this far from the background. */
  static final int THRESHOLD = 30;

  /** Regions smaller than this are anti-aliasing crumbs; the smallest shape covers over 30. */
  static final int MIN_PIXELS = 10;

  /**
   * One shape as seen in the pixels.
   *
   * @param color colour word from the hue
   * @param kind kind word from the coverage
   * @param fill most common pixel value, {@code 0xRRGGBB}
   * @param centerX middle of the region's pixel bounding box
   * @param centerY same, vertically
   * @param width columns spanned by the region's pixels
   * @param height rows spanned
   * @param area anti-aliasing coverage summed, in square pixels
   * @param boxFill area over the coverage-weighted width times height
   * @param widestRow where the widest row lies, 0 = top, 1 = bottom
   */
  record Blob(
      String color,
      String kind,
      int fill,
      double centerX,
      double centerY,
      int width,
      int height,
      double area,
      double boxFill,
      double widestRow) {}

  private Blobs() {}

  static List<Blob> find(RgbImage image) {
    int w = image.width();
    int h = image.height();
    int[] rgb = new int[w * h];
    byte[] b = image.rgb();
    for (int i = 0; i < rgb.length; i++) {
      rgb[i] = (b[3 * i] & 0xFF) << 16 | (b[3 * i + 1] & 0xFF) << 8 | (b[3 * i + 2] & 0xFF);
    }
    int background = rgb[0];
    boolean[] mask = new boolean[w * h];
    for (int i = 0; i < rgb.length; i++) {
      mask[i] = distance(rgb[i], background) > THRESHOLD;
    }
    int[] label = new int[w * h];
    int[] stack = new int[w * h];
    List<Blob> blobs = new ArrayList<>();
    int next = 0;
    for (int start = 0; start < rgb.length; start++) {
      if (!mask[start] || label[start] != 0) {
        continue;
      }
      next++;
      int top = 0;
      stack[top++] = start;
      label[start] = next;
      int count = 0;
      int minX = w;
      int maxX = -1;
      int minY = h;
      int maxY = -1;
      Map<Integer, Integer> values = new HashMap<>();
      while (top > 0) {
        int p = stack[--top];
        int x = p % w;
        int y = p / w;
        count++;
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
        values.merge(rgb[p], 1, Integer::sum);
        for (int dy = -1; dy <= 1; dy++) {
          for (int dx = -1; dx <= 1; dx++) {
            int nx = x + dx;
            int ny = y + dy;
            if (nx >= 0 && ny >= 0 && nx < w && ny < h) {
              int q = ny * w + nx;
              if (mask[q] && label[q] == 0) {
                label[q] = next;
                stack[top++] = q;
              }
            }
          }
        }
      }
      if (count < MIN_PIXELS) {
        continue;
      }
      int fill = values.entrySet().stream().max(Map.Entry.comparingByValue()).get().getKey();
      blobs.add(measure(rgb, mask, label, next, w, h, minX, maxX, minY, maxY, fill, background));
    }
    return blobs;
  }

  /**
   * Coverage of every pixel of the region and of the unmasked pixels touching it (the faint
   * anti-aliased rim), from where its value lies between background and fill.
   */
  private static Blob measure(
      int[] rgb,
      boolean[] mask,
      int[] label,
      int id,
      int w,
      int h,
      int minX,
      int maxX,
      int minY,
      int maxY,
      int fill,
      int background) {
    int x0 = Math.max(0, minX - 1);
    int x1 = Math.min(w - 1, maxX + 1);
    int y0 = Math.max(0, minY - 1);
    int y1 = Math.min(h - 1, maxY + 1);
    double[] columnMax = new double[x1 - x0 + 1];
    double[] rowMax = new double[y1 - y0 + 1];
    double[] rowSum = new double[y1 - y0 + 1];
    double area = 0;
    for (int y = y0; y <= y1; y++) {
      for (int x = x0; x <= x1; x++) {
        int p = y * w + x;
        if (label[p] != id && (mask[p] || !touches(label, id, x, y, w, h))) {
          continue;
        }
        double cover = coverage(rgb[p], fill, background);
        area += cover;
        columnMax[x - x0] = Math.max(columnMax[x - x0], cover);
        rowMax[y - y0] = Math.max(rowMax[y - y0], cover);
        rowSum[y - y0] += cover;
      }
    }
    double width = sum(columnMax);
    double height = sum(rowMax);
    int widest = 0;
    for (int r = 1; r < rowSum.length; r++) {
      if (rowSum[r] > rowSum[widest] + 1e-9) {
        widest = r;
      }
    }
    double widestRow = (widest + 0.5) / rowSum.length;
    double boxFill = area / (width * height);
    return new Blob(
        hueName(fill),
        kindName(boxFill, widestRow),
        fill,
        (minX + maxX + 1) / 2.0,
        (minY + maxY + 1) / 2.0,
        maxX - minX + 1,
        maxY - minY + 1,
        area,
        boxFill,
        widestRow);
  }

  static String kindName(double boxFill, double widestRow) {
    if (boxFill > 0.92 && boxFill < 1.05) {
      return "square";
    }
    if (boxFill > 0.72 && boxFill < 0.85) {
      return "circle";
    }
    if (boxFill > 0.33 && boxFill < 0.65) {
      return widestRow > 0.7 ? "triangle" : "star";
    }
    return "unknown (fill " + boxFill + ")";
  }

  /** Hue bands in degrees: red around 0, orange, yellow, green, blue, purple. */
  static String hueName(int rgb) {
    float[] hsb = Color.RGBtoHSB(rgb >> 16 & 0xFF, rgb >> 8 & 0xFF, rgb & 0xFF, null);
    if (hsb[1] < 0.4f) {
      return "unsaturated";
    }
    double hue = hsb[0] * 360;
    if (hue >= 345 || hue < 15) {
      return "red";
    }
    if (hue < 41) {
      return "orange";
    }
    if (hue < 75) {
      return "yellow";
    }
    if (hue < 180) {
      return "green";
    }
    if (hue < 250) {
      return "blue";
    }
    return "purple";
  }

  private static boolean touches(int[] label, int id, int x, int y, int w, int h) {
    for (int dy = -1; dy <= 1; dy++) {
      for (int dx = -1; dx <= 1; dx++) {
        int nx = x + dx;
        int ny = y + dy;
        if (nx >= 0 && ny >= 0 && nx < w && ny < h && label[ny * w + nx] == id) {
          return true;
        }
      }
    }
    return false;
  }

  private static double coverage(int pixel, int fill, int background) {
    double num = 0;
    double den = 0;
    for (int shift = 16; shift >= 0; shift -= 8) {
      double p = (pixel >> shift & 0xFF) - (background >> shift & 0xFF);
      double f = (fill >> shift & 0xFF) - (background >> shift & 0xFF);
      num += p * f;
      den += f * f;
    }
    return Math.max(0, Math.min(1, num / den));
  }

  private static int distance(int a, int b) {
    int d = 0;
    for (int shift = 16; shift >= 0; shift -= 8) {
      d = Math.max(d, Math.abs((a >> shift & 0xFF) - (b >> shift & 0xFF)));
    }
    return d;
  }

  private static double sum(double[] values) {
    double total = 0;
    for (double v : values) {
      total += v;
    }
    return total;
  }
}
