package io.llavaserve.engine.image;

/**
 * Bicubic resampling that reproduces Pillow's {@code Image.resize(size, Image.BICUBIC)} on 8-bit
 * RGB bit for bit, since the CLIP tower was trained on images Pillow resized.
 *
 * <p>Follows {@code libImaging/Resample.c}: two separable passes, horizontal then vertical, each
 * skipped when its dimension is unchanged; the Keys cubic kernel with {@code a = -0.5} whose
 * support widens by the scale when shrinking (an antialiasing filter, not point sampling); weights
 * normalised per output pixel and then rounded to 22-bit fixed point; accumulation from half a unit
 * and clipping to 0..255 after each pass.
 */
public final class PillowResize {

  /** Fixed-point fraction bits: 32 bits less 8 for the sample and 2 for overshoot headroom. */
  static final int PRECISION_BITS = 32 - 8 - 2;

  private static final double BICUBIC_SUPPORT = 2.0;

  private PillowResize() {}

  /** Resizes {@code in} to {@code outWidth x outHeight} as Pillow's bicubic filter does. */
  public static RgbImage bicubic(RgbImage in, int outWidth, int outHeight) {
    if (outWidth <= 0 || outHeight <= 0) {
      throw new IllegalArgumentException(
          "output size must be positive, got " + outWidth + " x " + outHeight);
    }
    boolean needHorizontal = outWidth != in.width();
    boolean needVertical = outHeight != in.height();
    Coefficients horizontal = Coefficients.compute(in.width(), outWidth);
    Coefficients vertical = Coefficients.compute(in.height(), outHeight);

    RgbImage image = in;
    if (needHorizontal) {
      // Only the source rows the vertical pass will read need a horizontal pass.
      int firstRow = vertical.bounds[0];
      int lastRow = vertical.bounds[outHeight * 2 - 2] + vertical.bounds[outHeight * 2 - 1];
      image = horizontalPass(image, horizontal, firstRow, lastRow - firstRow);
      vertical = vertical.shiftedBy(-firstRow);
    }
    if (needVertical) {
      image = verticalPass(image, vertical);
    }
    return image == in ? new RgbImage(in.width(), in.height(), in.rgb().clone()) : image;
  }

  private static RgbImage horizontalPass(RgbImage in, Coefficients c, int firstRow, int rows) {
    int inW = in.width();
    int outW = c.outSize;
    byte[] src = in.rgb();
    byte[] dst = new byte[outW * rows * 3];
    for (int y = 0; y < rows; y++) {
      int rowStart = (y + firstRow) * inW * 3;
      for (int xx = 0; xx < outW; xx++) {
        int xmin = c.bounds[xx * 2];
        int count = c.bounds[xx * 2 + 1];
        int k = xx * c.ksize;
        int ss0 = 1 << (PRECISION_BITS - 1);
        int ss1 = ss0;
        int ss2 = ss0;
        for (int x = 0; x < count; x++) {
          int p = rowStart + (x + xmin) * 3;
          int w = c.kk[k + x];
          ss0 += (src[p] & 0xff) * w;
          ss1 += (src[p + 1] & 0xff) * w;
          ss2 += (src[p + 2] & 0xff) * w;
        }
        int o = (y * outW + xx) * 3;
        dst[o] = clip8(ss0);
        dst[o + 1] = clip8(ss1);
        dst[o + 2] = clip8(ss2);
      }
    }
    return new RgbImage(outW, rows, dst);
  }

  private static RgbImage verticalPass(RgbImage in, Coefficients c) {
    int w = in.width();
    int outH = c.outSize;
    byte[] src = in.rgb();
    byte[] dst = new byte[w * outH * 3];
    for (int yy = 0; yy < outH; yy++) {
      int ymin = c.bounds[yy * 2];
      int count = c.bounds[yy * 2 + 1];
      int k = yy * c.ksize;
      for (int xx = 0; xx < w; xx++) {
        int ss0 = 1 << (PRECISION_BITS - 1);
        int ss1 = ss0;
        int ss2 = ss0;
        for (int y = 0; y < count; y++) {
          int p = ((y + ymin) * w + xx) * 3;
          int weight = c.kk[k + y];
          ss0 += (src[p] & 0xff) * weight;
          ss1 += (src[p + 1] & 0xff) * weight;
          ss2 += (src[p + 2] & 0xff) * weight;
        }
        int o = (yy * w + xx) * 3;
        dst[o] = clip8(ss0);
        dst[o + 1] = clip8(ss1);
        dst[o + 2] = clip8(ss2);
      }
    }
    return new RgbImage(w, outH, dst);
  }

  private static byte clip8(int ss) {
    int v = ss >> PRECISION_BITS;
    return (byte) (v < 0 ? 0 : Math.min(v, 255));
  }

  /** Keys' cubic convolution kernel with {@code a = -0.5}, as Pillow's {@code bicubic_filter}. */
  static double bicubicFilter(double x) {
    final double a = -0.5;
    if (x < 0.0) {
      x = -x;
    }
    if (x < 1.0) {
      return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    }
    if (x < 2.0) {
      return (((x - 5) * x + 8) * x - 4) * a;
    }
    return 0.0;
  }

  /**
   * Per output pixel along one axis: the first source index, the number of taps, and {@code ksize}
   * fixed-point weights (Pillow's {@code precompute_coeffs} then {@code normalize_coeffs_8bpc}).
   */
  static final class Coefficients {
    final int outSize;
    final int ksize;
    final int[] bounds; // [outSize, 2]: xmin, tap count
    final int[] kk; // [outSize, ksize]

    private Coefficients(int outSize, int ksize, int[] bounds, int[] kk) {
      this.outSize = outSize;
      this.ksize = ksize;
      this.bounds = bounds;
      this.kk = kk;
    }

    static Coefficients compute(int inSize, int outSize) {
      double scale = (double) inSize / outSize;
      double filterscale = Math.max(scale, 1.0);
      double support = BICUBIC_SUPPORT * filterscale;
      int ksize = (int) Math.ceil(support) * 2 + 1;
      int[] bounds = new int[outSize * 2];
      int[] kk = new int[outSize * ksize];
      double[] k = new double[ksize];
      double ss = 1.0 / filterscale;
      for (int xx = 0; xx < outSize; xx++) {
        double center = (xx + 0.5) * scale;
        // (int) truncates toward zero like the C cast; the +0.5 rounds non-negative values.
        int xmin = Math.max((int) (center - support + 0.5), 0);
        int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
          double w = bicubicFilter((x + xmin - center + 0.5) * ss);
          k[x] = w;
          ww += w;
        }
        for (int x = 0; x < xmax; x++) {
          double normalised = ww != 0.0 ? k[x] / ww : k[x];
          double scaled = normalised * (1 << PRECISION_BITS);
          kk[xx * ksize + x] = (int) (normalised < 0 ? scaled - 0.5 : scaled + 0.5);
        }
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
      }
      return new Coefficients(outSize, ksize, bounds, kk);
    }

    Coefficients shiftedBy(int delta) {
      int[] shifted = bounds.clone();
      for (int i = 0; i < outSize; i++) {
        shifted[i * 2] += delta;
      }
      return new Coefficients(outSize, ksize, shifted, kk);
    }
  }
}
