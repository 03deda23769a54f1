package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.image.ImageException.Reason;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ImageDecoderTest {

  private static final ImageLimits LIMITS = ImageLimits.defaults();

  /**
   * Each lossless file against Pillow's convert("RGB") (after exif_transpose for JPEG): every pixel
   * must match. JPEG is included because Java's decoder and Pillow's libjpeg agree exactly on these
   * baseline files.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "gray.png",
        "palette.png",
        "rgba.png",
        "la.png",
        "bilevel.png",
        "rgb_trns.png",
        "rgb16.png",
        "gray16.png",
        "frame.gif",
        "rgb24.bmp",
        "palette8.bmp",
        "lossless.webp",
        "lossless_alpha.webp",
        "plain.jpg",
        "gray.jpg",
        "orientation1.jpg",
        "orientation2.jpg",
        "orientation3.jpg",
        "orientation4.jpg",
        "orientation5.jpg",
        "orientation6.jpg",
        "orientation7.jpg",
        "orientation8.jpg"
      })
  void matchesPillowExactly(String file) throws ImageException {
    RgbImage expected = Fixtures.expectedRgb("decode/" + file + ".expected.png");

    RgbImage actual = ImageDecoder.decode(Fixtures.bytes("decode/" + file), LIMITS);

    assertEquals(0, Fixtures.maxDifference(expected, actual), file);
  }

  /**
   * Lossy WebP: TwelveMonkeys upsamples chroma by repetition where libwebp interpolates, so colour
   * edges differ. Bounds are the measured gap with a little headroom (lossy_smooth: max 32, mean
   * 5.1; lossy, with pixel-scale saturated colour edges: max 99, mean 15.4); a wrong channel order
   * or orientation would be far outside them.
   */
  @ParameterizedTest
  @CsvSource({"lossy_smooth.webp, 40, 6.0", "lossy.webp, 110, 18.0"})
  void lossyWebpIsCloseToLibwebp(String file, int maxTolerance, double meanTolerance)
      throws ImageException {
    RgbImage expected = Fixtures.expectedRgb("decode/" + file + ".expected.png");

    RgbImage actual = ImageDecoder.decode(Fixtures.bytes("decode/" + file), LIMITS);

    int max = Fixtures.maxDifference(expected, actual);
    double mean = Fixtures.meanDifference(expected, actual);
    System.out.printf("decode %s: max difference %d, mean %.2f%n", file, max, mean);
    assertTrue(max <= maxTolerance, file + " max difference " + max);
    assertTrue(mean <= meanTolerance, file + " mean difference " + mean);
  }

  @Test
  void jpegOrientationSixTurnsTheImageClockwise() throws ImageException {
    RgbImage upright = ImageDecoder.decode(Fixtures.bytes("decode/orientation1.jpg"), LIMITS);
    RgbImage turned = ImageDecoder.decode(Fixtures.bytes("decode/orientation6.jpg"), LIMITS);

    assertEquals(upright.height(), turned.width());
    assertEquals(upright.width(), turned.height());
    // The stored top-left pixel ends up top-right.
    for (int c = 0; c < 3; c++) {
      assertEquals(upright.sample(0, 0, c), turned.sample(turned.width() - 1, 0, c));
    }
  }

  @Test
  void emptyInputIsRefused() {
    assertEquals(Reason.EMPTY, refused(new byte[0], LIMITS).reason());
  }

  @Test
  void byteLimitIsCheckedFirst() {
    byte[] text = "not an image at all".repeat(10).getBytes(StandardCharsets.US_ASCII);

    ImageException e = refused(text, new ImageLimits(100, 1000));

    assertEquals(Reason.TOO_MANY_BYTES, e.reason());
    assertEquals("image has 190 bytes, limit is 100", e.getMessage());
  }

  @Test
  void unknownAndUnacceptedFormatsAreRefused() {
    byte[] text = "hello".getBytes(StandardCharsets.US_ASCII);
    byte[] tiff = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0};

    assertEquals(Reason.UNSUPPORTED_FORMAT, refused(text, LIMITS).reason());
    assertEquals(Reason.UNSUPPORTED_FORMAT, refused(tiff, LIMITS).reason());
  }

  @Test
  void pixelLimitUsesTheHeader() {
    ImageException e = refused(Fixtures.bytes("decode/gray.png"), new ImageLimits(1 << 20, 1000));

    assertEquals(Reason.TOO_MANY_PIXELS, e.reason());
    assertEquals("image has 1536 pixels (48 x 32), limit is 1000", e.getMessage());
  }

  /** 10^10 pixels would need 30 GB; refusing it at all proves nothing was allocated. */
  @Test
  void hugePngHeaderIsRefusedBeforeDecoding() {
    ImageException e = refused(pngHeader(100_000, 100_000), LIMITS);

    assertEquals(Reason.TOO_MANY_PIXELS, e.reason());
    assertEquals(
        "image has 10000000000 pixels (100000 x 100000), limit is 50000000", e.getMessage());
  }

  @Test
  void hugeJpegHeaderIsRefusedBeforeDecoding() {
    byte[] jpeg = Fixtures.bytes("decode/plain.jpg").clone();
    int sof = indexOfMarker(jpeg, 0xc0);
    // SOF0: marker, length(2), precision(1), height(2), width(2)
    jpeg[sof + 5] = (byte) 0xea;
    jpeg[sof + 6] = (byte) 0x60; // 60000
    jpeg[sof + 7] = (byte) 0xea;
    jpeg[sof + 8] = (byte) 0x60;

    ImageException e = refused(jpeg, LIMITS);

    assertEquals(Reason.TOO_MANY_PIXELS, e.reason());
    assertTrue(e.getMessage().contains("(60000 x 60000)"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"gray.png", "plain.jpg", "frame.gif", "rgb24.bmp", "lossless.webp", "lossy.webp"})
  void truncatedFilesAreCorrupt(String file) {
    byte[] whole = Fixtures.bytes("decode/" + file);

    ImageException e = refused(Arrays.copyOf(whole, whole.length / 2), LIMITS);

    assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
  }

  @Test
  void signatureWithoutHeaderIsCorrupt() {
    byte[] png = Arrays.copyOf(Fixtures.bytes("decode/gray.png"), 12);

    assertEquals(Reason.CORRUPT, refused(png, LIMITS).reason());
  }

  private static ImageException refused(byte[] bytes, ImageLimits limits) {
    return assertThrows(ImageException.class, () -> ImageDecoder.decode(bytes, limits));
  }

  /** A PNG signature and a valid IHDR claiming {@code width x height}, and no pixel data. */
  private static byte[] pngHeader(int width, int height) {
    ByteBuffer ihdr = ByteBuffer.allocate(17);
    ihdr.put("IHDR".getBytes(StandardCharsets.US_ASCII));
    ihdr.putInt(width).putInt(height).put((byte) 8).put((byte) 2).put(new byte[3]);
    CRC32 crc = new CRC32();
    crc.update(ihdr.array());
    return ByteBuffer.allocate(8 + 4 + 17 + 4)
        .put(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})
        .putInt(13)
        .put(ihdr.array())
        .putInt((int) crc.getValue())
        .array();
  }

  private static int indexOfMarker(byte[] b, int marker) {
    for (int i = 0; i + 1 < b.length; i++) {
      if ((b[i] & 0xff) == 0xff && (b[i + 1] & 0xff) == marker) {
        return i;
      }
    }
    throw new AssertionError("no marker " + Integer.toHexString(marker));
  }
}
