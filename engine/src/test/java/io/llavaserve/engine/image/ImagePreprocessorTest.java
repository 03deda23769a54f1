package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ImagePreprocessorTest {

  private static final ImagePreprocessor LLAVA =
      new ImagePreprocessor(PreprocessConfig.clipDefaults(336));

  private static JsonNode expected() throws IOException {
    return new ObjectMapper().readTree(Fixtures.bytes("preprocess/expected.json"));
  }

  /**
   * Pillow's expand2square + resize + centre crop, compared on every pixel. The tolerance the task
   * allows is one level; the implementation is exact, so anything but 0 is reported.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "37x23_pad",
        "500x333_pad",
        "64x400_pad",
        "336x336_pad",
        "1000x700_pad",
        "500x333_nopad",
        "64x400_nopad"
      })
  void matchesPillowWithinOneLevel(String name) throws IOException {
    JsonNode c = expected().get(name);
    RgbImage source = Fixtures.expectedRgb("preprocess/" + c.get("source").asText());
    ImagePreprocessor pre =
        new ImagePreprocessor(
            PreprocessConfig.clipDefaults(336).withPadToSquare(c.get("pad").asBoolean()));

    RgbImage actual = pre.resizeAndCrop(source);

    int max =
        Fixtures.maxDifference(
            Fixtures.expectedRgb("preprocess/" + name + ".expected.png"), actual);
    System.out.println("preprocess " + name + ": max difference from Pillow " + max);
    assertTrue(max <= 1, name + " differs from Pillow by " + max + " levels");
    assertEquals(0, max, name + " is within tolerance but not exact");
  }

  /** The float pipeline reproduces numpy's float32 rescale and normalise bit for bit. */
  @ParameterizedTest
  @ValueSource(strings = {"37x23_pad", "500x333_pad", "64x400_nopad"})
  void pixelValuesDigestMatchesNumpy(String name) throws IOException {
    JsonNode c = expected().get(name);
    RgbImage source = Fixtures.expectedRgb("preprocess/" + c.get("source").asText());
    ImagePreprocessor pre =
        new ImagePreprocessor(
            PreprocessConfig.clipDefaults(336).withPadToSquare(c.get("pad").asBoolean()));

    PixelValues values = pre.preprocess(source);

    assertEquals(3, values.channels());
    assertEquals(336, values.height());
    assertEquals(336, values.width());
    for (int i = 0; i < 4; i++) {
      assertEquals((float) c.get("first_values").get(i).asDouble(), values.data()[i]);
    }
    assertEquals(c.get("digest").asText(), values.digest());
  }

  private static JsonNode siglipExpected() throws IOException {
    return new ObjectMapper().readTree(Fixtures.bytes("preprocess/siglip_expected.json"));
  }

  /**
   * SiglipImageProcessor: non-square sources resized straight to the target, squashed rather than
   * padded or cropped, against Pillow's {@code Image.resize((w, h), BICUBIC)} on every pixel; the
   * 224 x 320 case checks that height and width are not swapped.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "siglip_500x333_to_384x384",
        "siglip_64x400_to_384x384",
        "siglip_1000x700_to_224x320"
      })
  void siglipResizesStraightToTheSizeAsPillowDoes(String name) throws IOException {
    JsonNode c = siglipExpected().get(name);
    RgbImage source = Fixtures.expectedRgb("preprocess/" + c.get("source").asText());
    int height = c.get("height").asInt();
    int width = c.get("width").asInt();
    ImagePreprocessor pre = new ImagePreprocessor(siglip(height, width));

    RgbImage actual = pre.resizeAndCrop(source);
    PixelValues values = pre.preprocess(source);

    assertEquals(width, actual.width());
    assertEquals(height, actual.height());
    assertEquals(
        0,
        Fixtures.maxDifference(
            Fixtures.expectedRgb("preprocess/" + name + ".expected.png"), actual),
        name + " differs from Pillow");
    assertEquals(height, values.height());
    assertEquals(width, values.width());
    for (int i = 0; i < 4; i++) {
      assertEquals((float) c.get("first_values").get(i).asDouble(), values.data()[i]);
    }
    assertEquals(c.get("digest").asText(), values.digest(), "numpy's float32 pixel values");
  }

  @Test
  void siglipNormalisesWithHalfMeanAndStd() {
    RgbImage white = new RgbImage(1, 1, new byte[] {(byte) 255, (byte) 255, 0});

    PixelValues v = new ImagePreprocessor(PreprocessConfig.siglipDefaults(2)).preprocess(white);

    assertEquals(1.0f, v.data()[0]);
    assertEquals(1.0f, v.data()[4]);
    assertEquals(-1.0f, v.data()[8]);
    assertEquals(12, v.data().length);
  }

  /** SiglipImageProcessor's settings for a {@code height x width} target. */
  private static PreprocessConfig siglip(int height, int width) {
    PreprocessConfig d = PreprocessConfig.siglipDefaults(height);
    return new PreprocessConfig(
        PreprocessConfig.Size.exact(height, width),
        height,
        width,
        d.imageMean(),
        d.imageStd(),
        d.rescaleFactor(),
        false,
        true,
        false,
        true,
        true);
  }

  @Test
  void outputIsChannelFirstAndNormalised() {
    // One red pixel: every channel plane is uniform after padding/resizing a flat image.
    RgbImage red = new RgbImage(1, 1, new byte[] {(byte) 255, 0, 0});
    ImagePreprocessor pre =
        new ImagePreprocessor(PreprocessConfig.clipDefaults(4).withPadToSquare(false));

    PixelValues v = pre.preprocess(red);

    float r = (1.0f - 0.48145466f) / 0.26862954f;
    float g = (0.0f - 0.4578275f) / 0.26130258f;
    assertEquals(r, v.data()[0]);
    assertEquals(r, v.data()[15]);
    assertEquals(g, v.data()[16]);
    assertEquals(48, v.data().length);
  }

  @Test
  void padsWithMeanColourAndCentresTheImage() {
    // 2 wide, 5 high: padded to 5 x 5 with the image at column (5 - 2) // 2 = 1.
    byte[] rgb = new byte[2 * 5 * 3];
    java.util.Arrays.fill(rgb, (byte) 9);

    RgbImage sq =
        ImagePreprocessor.expandToSquare(new RgbImage(2, 5, rgb), new int[] {122, 116, 104});

    assertEquals(5, sq.width());
    assertEquals(5, sq.height());
    assertArrayEquals(new int[] {122, 116, 104}, pixel(sq, 0, 2));
    assertArrayEquals(new int[] {9, 9, 9}, pixel(sq, 1, 2));
    assertArrayEquals(new int[] {9, 9, 9}, pixel(sq, 2, 4));
    assertArrayEquals(new int[] {122, 116, 104}, pixel(sq, 3, 0));
  }

  @Test
  void resizeOutputTruncatesTheLongSide() {
    // 336 * 500 / 333 = 504.5 -> 504; 336 * 400 / 64 = 2100.
    PreprocessConfig.Size edge = PreprocessConfig.Size.shortestEdge(336);
    assertArrayEquals(new int[] {504, 336}, edge.outputSize(500, 333));
    assertArrayEquals(new int[] {336, 2100}, edge.outputSize(64, 400));
    assertArrayEquals(new int[] {336, 336}, edge.outputSize(10, 10));
  }

  @Test
  void centreCropFloorsOffsetsAndZeroPadsSmallImages() {
    byte[] rgb = new byte[5 * 1 * 3];
    for (int x = 0; x < 5; x++) {
      rgb[x * 3] = (byte) (x + 1);
    }
    RgbImage row = new RgbImage(5, 1, rgb);

    RgbImage cropped = ImagePreprocessor.centerCrop(row, 1, 2); // left = (5 - 2) // 2 = 1
    RgbImage padded = ImagePreprocessor.centerCrop(row, 2, 2); // top = (1 - 2) // 2 = -1

    assertEquals(2, cropped.sample(0, 0, 0));
    assertEquals(3, cropped.sample(1, 0, 0));
    assertEquals(0, padded.sample(0, 0, 0));
    assertEquals(2, padded.sample(0, 1, 0));
  }

  @Test
  void digestDependsOnContentOnly() {
    RgbImage a = Fixtures.expectedRgb("preprocess/src_37x23.png");
    RgbImage b = new RgbImage(a.width(), a.height(), a.rgb().clone());
    byte[] changed = a.rgb().clone();
    changed[100] ^= 1;

    PixelValues va = LLAVA.preprocess(a);

    assertEquals(va, LLAVA.preprocess(b));
    assertNotEquals(va.digest(), LLAVA.preprocess(new RgbImage(37, 23, changed)).digest());
  }

  private static int[] pixel(RgbImage img, int x, int y) {
    return new int[] {img.sample(x, y, 0), img.sample(x, y, 1), img.sample(x, y, 2)};
  }
}
