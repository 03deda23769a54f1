package io.llavaserve.engine.image;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The vision tower's input for one image: float32 tiles in channel-first layout, {@code data[((t *
 * channels + c) * height + y) * width + x]}, plus a content digest so that identical images can
 * share cached vision features (and prefix blocks) whatever file they came from.
 *
 * <p>A llava image is one tile. A llava_next image is several ({@code [num_tiles, 3, H, W]} as
 * LlavaNextImageProcessor's {@code pixel_values}): the whole image resized to one tile, then the
 * grid row-major; its original size ({@code image_sizes}) decides the grid and how many positions
 * its features fill, so it is part of the value and of the digest. A llava_onevision image is tiled
 * so when it is its prompt's only one, and is one padded tile (its size still recorded) when it is
 * one of several: the same picture has other values, and another digest, either way.
 *
 * <p>The array is owned by the record and not copied; callers must not mutate it.
 *
 * @param tiles tiles of the image (1 for llava)
 * @param channels 3 for RGB
 * @param height rows of a tile
 * @param width columns of a tile
 * @param imageHeight rows of the image as decoded, or 0 when the size is not part of the value (a
 *     llava image, whose positions do not depend on it)
 * @param imageWidth columns of the image as decoded, or 0 with {@code imageHeight}
 * @param data {@code [tiles, channels, height, width]} float32
 * @param digest lowercase hex SHA-256: for an image without a recorded size, over the shape (three
 *     big-endian int32: channels, height, width) followed by every value as a big-endian IEEE-754
 *     float32; with one, over six int32 (tiles, channels, height, width, image height, image width)
 *     and then the values
 */
public record PixelValues(
    int tiles,
    int channels,
    int height,
    int width,
    int imageHeight,
    int imageWidth,
    float[] data,
    String digest) {

  public PixelValues {
    if (tiles <= 0 || channels <= 0 || height <= 0 || width <= 0) {
      throw new IllegalArgumentException(
          "shape must be positive, got ["
              + tiles
              + ", "
              + channels
              + ", "
              + height
              + ", "
              + width
              + "]");
    }
    if (imageHeight < 0 || imageWidth < 0 || (imageHeight == 0) != (imageWidth == 0)) {
      throw new IllegalArgumentException(
          "image size must be positive (or both 0), got " + imageHeight + " x " + imageWidth);
    }
    if (tiles > 1 && imageHeight == 0) {
      throw new IllegalArgumentException("an image of " + tiles + " tiles needs its size");
    }
    long expected = (long) tiles * channels * height * width;
    if (data == null || data.length != expected) {
      throw new IllegalArgumentException(
          "data has "
              + (data == null ? "no" : Integer.toString(data.length))
              + " values, expected "
              + expected);
    }
    if (digest == null || !digest.matches("[0-9a-f]{64}")) {
      throw new IllegalArgumentException("digest must be 64 lowercase hex digits: " + digest);
    }
  }

  /** One tile, no recorded image size. */
  public PixelValues(int channels, int height, int width, float[] data, String digest) {
    this(1, channels, height, width, 0, 0, data, digest);
  }

  /** Wraps one tile's {@code data} and computes its digest. */
  public static PixelValues of(int channels, int height, int width, float[] data) {
    return new PixelValues(channels, height, width, data, digestOf(channels, height, width, data));
  }

  /**
   * Wraps the tiles of an image of {@code imageHeight x imageWidth} and computes their digest.
   *
   * @param data {@code [tiles, channels, height, width]}
   */
  public static PixelValues tiled(
      int tiles,
      int channels,
      int height,
      int width,
      int imageHeight,
      int imageWidth,
      float[] data) {
    return new PixelValues(
        tiles,
        channels,
        height,
        width,
        imageHeight,
        imageWidth,
        data,
        digestOf(new int[] {tiles, channels, height, width, imageHeight, imageWidth}, data));
  }

  static String digestOf(int channels, int height, int width, float[] data) {
    return digestOf(new int[] {channels, height, width}, data);
  }

  private static String digestOf(int[] header, float[] data) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime provides SHA-256", e);
    }
    ByteBuffer buf = ByteBuffer.allocate(64 * 1024); // big-endian by default
    for (int h : header) {
      buf.putInt(h);
    }
    for (float v : data) {
      if (!buf.hasRemaining()) {
        sha.update(buf.array(), 0, buf.position());
        buf.clear();
      }
      buf.putFloat(v);
    }
    sha.update(buf.array(), 0, buf.position());
    return HexFormat.of().formatHex(sha.digest());
  }

  /** Whether the image's own size is recorded (an any-resolution image). */
  public boolean hasImageSize() {
    return imageHeight > 0;
  }

  /** Floats of one tile. */
  public int tileLength() {
    return channels * height * width;
  }

  /** Two values are equal when shape, size and digest are: the digest stands for the data. */
  @Override
  public boolean equals(Object o) {
    return o instanceof PixelValues other
        && tiles == other.tiles
        && channels == other.channels
        && height == other.height
        && width == other.width
        && imageHeight == other.imageHeight
        && imageWidth == other.imageWidth
        && digest.equals(other.digest);
  }

  @Override
  public int hashCode() {
    return digest.hashCode();
  }

  @Override
  public String toString() {
    return "PixelValues["
        + (tiles == 1 ? "" : tiles + ", ")
        + channels
        + ", "
        + height
        + ", "
        + width
        + "]"
        + (hasImageSize() ? " of " + imageHeight + " x " + imageWidth : "")
        + " sha256:"
        + digest;
  }
}
