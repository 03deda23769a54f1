package io.llavaserve.engine.image;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The vision tower's input for one image: float32 in channel-first layout, {@code data[(c * height
 * + y) * width + x]}, plus a content digest so that identical images can share cached vision
 * features whatever file they came from.
 *
 * <p>The array is owned by the record and not copied; callers must not mutate it.
 *
 * @param channels 3 for RGB
 * @param height rows
 * @param width columns
 * @param data {@code [channels, height, width]} float32
 * @param digest lowercase hex SHA-256 over the shape (three big-endian int32: channels, height,
 *     width) followed by every value as a big-endian IEEE-754 float32
 */
public record PixelValues(int channels, int height, int width, float[] data, String digest) {

  public PixelValues {
    if (channels <= 0 || height <= 0 || width <= 0) {
      throw new IllegalArgumentException(
          "shape must be positive, got [" + channels + ", " + height + ", " + width + "]");
    }
    if (data == null || data.length != (long) channels * height * width) {
      throw new IllegalArgumentException(
          "data has "
              + (data == null ? "no" : Integer.toString(data.length))
              + " values, expected "
              + (long) channels * height * width);
    }
    if (digest == null || !digest.matches("[0-9a-f]{64}")) {
      throw new IllegalArgumentException("digest must be 64 lowercase hex digits: " + digest);
    }
  }

  /** Wraps {@code data} and computes its digest. */
  public static PixelValues of(int channels, int height, int width, float[] data) {
    return new PixelValues(channels, height, width, data, digestOf(channels, height, width, data));
  }

  static String digestOf(int channels, int height, int width, float[] data) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime provides SHA-256", e);
    }
    ByteBuffer buf = ByteBuffer.allocate(64 * 1024); // big-endian by default
    buf.putInt(channels).putInt(height).putInt(width);
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

  /** Two values are equal when shape and digest are: the digest stands for the data. */
  @Override
  public boolean equals(Object o) {
    return o instanceof PixelValues other
        && channels == other.channels
        && height == other.height
        && width == other.width
        && digest.equals(other.digest);
  }

  @Override
  public int hashCode() {
    return digest.hashCode();
  }

  @Override
  public String toString() {
    return "PixelValues[" + channels + ", " + height + ", " + width + "] sha256:" + digest;
  }
}
