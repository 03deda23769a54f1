package io.llavaserve.engine.image;

/**
 * An 8-bit RGB image, row-major with interleaved channels: the byte at {@code (y * width + x) * 3 +
 * c} is channel {@code c} (0 = red) of pixel {@code (x, y)}.
 *
 * <p>The array is owned by the record and is not copied: callers must not mutate it after
 * construction, since images are handed between threads.
 *
 * @param width pixels per row, positive
 * @param height rows, positive
 * @param rgb {@code width * height * 3} bytes
 */
public record RgbImage(int width, int height, byte[] rgb) {

  public RgbImage {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException(
          "image size must be positive, got " + width + " x " + height);
    }
    if (rgb == null) {
      throw new IllegalArgumentException("rgb must not be null");
    }
    long expected = (long) width * height * 3;
    if (rgb.length != expected) {
      throw new IllegalArgumentException(
          "rgb has "
              + rgb.length
              + " bytes, expected "
              + expected
              + " for "
              + width
              + " x "
              + height
              + " x 3");
    }
  }

  /** Channel {@code c} of pixel {@code (x, y)} as 0..255. */
  public int sample(int x, int y, int c) {
    return rgb[(y * width + x) * 3 + c] & 0xff;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof RgbImage other
        && width == other.width
        && height == other.height
        && java.util.Arrays.equals(rgb, other.rgb);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * width + height) + java.util.Arrays.hashCode(rgb);
  }

  @Override
  public String toString() {
    return "RgbImage[" + width + " x " + height + "]";
  }
}
