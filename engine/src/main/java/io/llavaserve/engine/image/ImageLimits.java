package io.llavaserve.engine.image;

/**
 * Upper bounds on an uploaded image, enforced by {@link ImageDecoder} before any pixel is decoded,
 * so that a small file claiming a huge canvas cannot exhaust memory.
 *
 * @param maxBytes largest accepted encoded size in bytes
 * @param maxPixels largest accepted {@code width * height}, read from the header
 */
public record ImageLimits(long maxBytes, long maxPixels) {

  /** 20 MiB encoded. */
  public static final long DEFAULT_MAX_BYTES = 20L * 1024 * 1024;

  /** 50 megapixels: a decoded RGB copy then stays under 150 MB. */
  public static final long DEFAULT_MAX_PIXELS = 50_000_000L;

  public ImageLimits {
    if (maxBytes <= 0) {
      throw new IllegalArgumentException("maxBytes must be positive, got " + maxBytes);
    }
    if (maxPixels <= 0) {
      throw new IllegalArgumentException("maxPixels must be positive, got " + maxPixels);
    }
  }

  /** 20 MiB and 50 megapixels. */
  public static ImageLimits defaults() {
    return new ImageLimits(DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS);
  }
}
