package io.llavaserve.engine.image;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/** Loads the fixtures written by {@code make_fixtures.py} next to this package's resources. */
final class Fixtures {

  private Fixtures() {}

  static byte[] bytes(String path) {
    try (InputStream in = Fixtures.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalArgumentException("missing fixture " + path);
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Reads an 8-bit RGB or RGBA PNG written by Pillow straight from its raster, independently of
   * {@link ImageDecoder}, so that the reference does not go through the code under test.
   */
  static RgbImage expectedRgb(String path) {
    BufferedImage img;
    try {
      img = ImageIO.read(new ByteArrayInputStream(bytes(path)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Raster r = img.getRaster();
    if (r.getNumBands() < 3 || r.getSampleModel().getSampleSize(0) != 8) {
      throw new IllegalArgumentException(path + " is not an 8-bit RGB PNG");
    }
    int w = img.getWidth();
    int h = img.getHeight();
    byte[] rgb = new byte[w * h * 3];
    int[] px = new int[r.getNumBands()];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        r.getPixel(x, y, px);
        for (int c = 0; c < 3; c++) {
          rgb[(y * w + x) * 3 + c] = (byte) px[c];
        }
      }
    }
    return new RgbImage(w, h, rgb);
  }

  /** The largest absolute difference of any channel of any pixel; sizes must match. */
  static int maxDifference(RgbImage expected, RgbImage actual) {
    if (expected.width() != actual.width() || expected.height() != actual.height()) {
      throw new AssertionError(
          "size differs: expected "
              + expected.width()
              + " x "
              + expected.height()
              + ", got "
              + actual.width()
              + " x "
              + actual.height());
    }
    int max = 0;
    for (int i = 0; i < expected.rgb().length; i++) {
      max = Math.max(max, Math.abs((expected.rgb()[i] & 0xff) - (actual.rgb()[i] & 0xff)));
    }
    return max;
  }

  /** The mean absolute difference over every channel of every pixel; sizes must match. */
  static double meanDifference(RgbImage expected, RgbImage actual) {
    maxDifference(expected, actual);
    long sum = 0;
    for (int i = 0; i < expected.rgb().length; i++) {
      sum += Math.abs((expected.rgb()[i] & 0xff) - (actual.rgb()[i] & 0xff));
    }
    return (double) sum / expected.rgb().length;
  }
}
