package io.llavaserve.engine.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.SampleModel;

/**
 * Converts a decoded {@link BufferedImage} to 8-bit RGB the way Pillow's {@code convert("RGB")}
 * does, reading samples straight from the raster. {@code BufferedImage.getRGB} is avoided because
 * it colour-manages: a linear gray raster, for one, comes back with different values.
 *
 * <ul>
 *   <li>Palette images expand through the palette; palette alpha is dropped.
 *   <li>Gray becomes {@code (v, v, v)}; a gray+alpha image drops its alpha.
 *   <li>Alpha is dropped, not composited over a background, as Pillow does for RGBA to RGB.
 *   <li>16-bit samples keep their high byte ({@code v >> 8}): Pillow opens 16-bit RGB, RGBA and
 *       gray+alpha PNGs that way. Pillow opens 16-bit gray as a 32-bit integer image whose RGB
 *       conversion clips every value above 255 to white, which destroys the picture; we take the
 *       high byte there too, so a 16-bit gray image looks like its 8-bit version.
 *   <li>Samples of fewer than 8 bits scale as {@code v * 255 / (2^bits - 1)} with integer division,
 *       which is Pillow's unpacking of 1/2/4-bit gray and 15/16-bit BMP pixels.
 * </ul>
 *
 * <p>Rasters in other colour spaces (CMYK, for instance) or with floating-point samples fall back
 * to {@code getRGB}, which is the only sensible conversion Java offers for them.
 */
final class RasterToRgb {

  private RasterToRgb() {}

  static RgbImage convert(BufferedImage image) {
    int w = image.getWidth();
    int h = image.getHeight();
    Raster raster = image.getRaster();
    ColorModel cm = image.getColorModel();
    byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
    int dataType = raster.getDataBuffer().getDataType();
    boolean integral = dataType != DataBuffer.TYPE_FLOAT && dataType != DataBuffer.TYPE_DOUBLE;

    if (cm instanceof IndexColorModel icm && integral) {
      expandPalette(raster, icm, rgb);
    } else if (integral
        && cm.getColorSpace().getType() == ColorSpace.TYPE_RGB
        && raster.getNumBands() >= 3) {
      copyBands(raster, new int[] {0, 1, 2}, rgb);
    } else if (integral && cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY) {
      copyBands(raster, new int[] {0, 0, 0}, rgb);
    } else {
      viaGetRgb(image, rgb);
    }
    return new RgbImage(w, h, rgb);
  }

  private static void expandPalette(Raster raster, IndexColorModel icm, byte[] rgb) {
    int w = raster.getWidth();
    int h = raster.getHeight();
    int size = icm.getMapSize();
    byte[] r = new byte[size];
    byte[] g = new byte[size];
    byte[] b = new byte[size];
    icm.getReds(r);
    icm.getGreens(g);
    icm.getBlues(b);
    int[] row = new int[w];
    int o = 0;
    for (int y = 0; y < h; y++) {
      raster.getSamples(0, y, w, 1, 0, row);
      for (int x = 0; x < w; x++) {
        int i = row[x];
        // An index past the palette is black, as in Pillow's zero-filled palette.
        if (i >= 0 && i < size) {
          rgb[o] = r[i];
          rgb[o + 1] = g[i];
          rgb[o + 2] = b[i];
        }
        o += 3;
      }
    }
  }

  /** Copies {@code bands[c]} of the raster into output channel {@code c}, scaled to 8 bits. */
  private static void copyBands(Raster raster, int[] bands, byte[] rgb) {
    int w = raster.getWidth();
    int h = raster.getHeight();
    SampleModel sm = raster.getSampleModel();
    int[] bits = new int[3];
    for (int c = 0; c < 3; c++) {
      bits[c] = sm.getSampleSize(bands[c]);
    }
    int[] row = new int[w];
    for (int c = 0; c < 3; c++) {
      if (c > 0 && bands[c] == bands[c - 1]) {
        for (int p = 0; p < w * h; p++) {
          rgb[p * 3 + c] = rgb[p * 3 + c - 1];
        }
        continue;
      }
      int o = c;
      for (int y = 0; y < h; y++) {
        raster.getSamples(0, y, w, 1, bands[c], row);
        for (int x = 0; x < w; x++) {
          rgb[o] = (byte) to8Bit(row[x], bits[c]);
          o += 3;
        }
      }
    }
  }

  static int to8Bit(int v, int bits) {
    if (bits == 8) {
      return v;
    }
    if (bits > 8) {
      return v >>> (bits - 8);
    }
    return v * 255 / ((1 << bits) - 1);
  }

  private static void viaGetRgb(BufferedImage image, byte[] rgb) {
    int w = image.getWidth();
    int[] row = new int[w];
    int o = 0;
    for (int y = 0; y < image.getHeight(); y++) {
      image.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0; x < w; x++) {
        rgb[o++] = (byte) (row[x] >> 16);
        rgb[o++] = (byte) (row[x] >> 8);
        rgb[o++] = (byte) row[x];
      }
    }
  }
}
