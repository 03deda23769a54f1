package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Validation of the package's value records and the EXIF tag reader's robustness. */
class ValuesTest {

  @Test
  void rgbImageRejectsInconsistentSizes() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> new RgbImage(2, 2, new byte[11]));

    assertEquals("rgb has 11 bytes, expected 12 for 2 x 2 x 3", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new RgbImage(0, 2, new byte[0]));
  }

  @Test
  void rgbImageEqualityIsByContent() {
    assertEquals(
        new RgbImage(1, 1, new byte[] {1, 2, 3}), new RgbImage(1, 1, new byte[] {1, 2, 3}));
    assertNotEquals(
        new RgbImage(1, 1, new byte[] {1, 2, 3}), new RgbImage(1, 1, new byte[] {1, 2, 4}));
  }

  @Test
  void limitsMustBePositive() {
    assertThrows(IllegalArgumentException.class, () -> new ImageLimits(0, 10));
    assertThrows(IllegalArgumentException.class, () -> new ImageLimits(10, -1));
    assertEquals(20L * 1024 * 1024, ImageLimits.defaults().maxBytes());
    assertEquals(50_000_000L, ImageLimits.defaults().maxPixels());
  }

  /** Reference value from Python: sha256(struct.pack(">3i", 1, 1, 2) + big-endian float32s). */
  @Test
  void digestIsShapeThenBigEndianFloats() {
    PixelValues v = PixelValues.of(1, 1, 2, new float[] {1.0f, -0.5f});

    assertEquals("abd4df5f911e11c26cba7ef419c235b5669b6f3b69eb8995717d399a30715c71", v.digest());
  }

  @Test
  void digestCoversTheShape() {
    float[] data = new float[6];

    assertNotEquals(PixelValues.of(1, 2, 3, data).digest(), PixelValues.of(1, 3, 2, data).digest());
  }

  @Test
  void pixelValuesRejectWrongLengthAndBadDigest() {
    assertThrows(IllegalArgumentException.class, () -> PixelValues.of(3, 2, 2, new float[11]));
    assertThrows(
        IllegalArgumentException.class, () -> new PixelValues(1, 1, 1, new float[1], "abc"));
  }

  @Test
  void malformedExifFallsBackToUpright() {
    byte[] jpeg = Fixtures.bytes("decode/orientation6.jpg").clone();
    int tiff = indexOf(jpeg, new byte[] {'M', 'M', 0, 42}, new byte[] {'I', 'I', 42, 0});
    assertEquals(6, ExifOrientation.read(jpeg));

    jpeg[tiff] = 'X'; // neither byte order

    assertEquals(1, ExifOrientation.read(jpeg));
    assertEquals(1, ExifOrientation.read(new byte[] {(byte) 0xff, (byte) 0xd8}));
    assertEquals(1, ExifOrientation.read(Fixtures.bytes("decode/plain.jpg")));
  }

  @Test
  void orientationsFiveToEightSwapTheSides() {
    RgbImage wide = new RgbImage(3, 1, new byte[] {1, 1, 1, 2, 2, 2, 3, 3, 3});

    for (int o = 1; o <= 8; o++) {
      RgbImage out = ExifOrientation.apply(wide, o);
      assertEquals(o >= 5 ? 1 : 3, out.width(), "orientation " + o);
    }
    // Orientation 8 (turn counter-clockwise): the rightmost pixel ends on top.
    assertEquals(3, ExifOrientation.apply(wide, 8).sample(0, 0, 0));
    assertEquals(1, ExifOrientation.apply(wide, 6).sample(0, 0, 0));
  }

  private static int indexOf(byte[] b, byte[] first, byte[] second) {
    for (int i = 0; i + 4 <= b.length; i++) {
      boolean a = true;
      boolean c = true;
      for (int k = 0; k < 4; k++) {
        a &= b[i + k] == first[k];
        c &= b[i + k] == second[k];
      }
      if (a || c) {
        return i;
      }
    }
    throw new AssertionError("no TIFF header");
  }
}
