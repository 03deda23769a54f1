package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PillowResizeTest {

  private static final RgbImage SOURCE = Fixtures.expectedRgb("resize/src_120x90.png");

  /** Shrinking, enlarging and one-axis cases against Pillow's Image.resize(BICUBIC). */
  @ParameterizedTest
  @CsvSource({"53, 31", "120, 45", "300, 90", "411, 200", "7, 5"})
  void matchesPillowOnEveryPixel(int width, int height) {
    RgbImage expected = Fixtures.expectedRgb("resize/120x90_to_" + width + "x" + height + ".png");

    RgbImage actual = PillowResize.bicubic(SOURCE, width, height);

    assertEquals(0, Fixtures.maxDifference(expected, actual));
  }

  @Test
  void sameSizeIsACopy() {
    RgbImage actual = PillowResize.bicubic(SOURCE, 120, 90);

    assertEquals(SOURCE, actual);
    assertNotSame(SOURCE.rgb(), actual.rgb());
  }

  @Test
  void uniformImageStaysUniform() {
    byte[] rgb = new byte[17 * 9 * 3];
    for (int i = 0; i < rgb.length; i += 3) {
      rgb[i] = (byte) 200;
      rgb[i + 1] = 7;
      rgb[i + 2] = (byte) 255;
    }

    RgbImage out = PillowResize.bicubic(new RgbImage(17, 9, rgb), 40, 3);

    for (int p = 0; p < 40 * 3; p++) {
      assertArrayEquals(
          new int[] {200, 7, 255},
          new int[] {
            out.sample(p % 40, p / 40, 0),
            out.sample(p % 40, p / 40, 1),
            out.sample(p % 40, p / 40, 2)
          });
    }
  }

  @Test
  void kernelIsKeysCubicWithAMinusHalf() {
    assertEquals(1.0, PillowResize.bicubicFilter(0.0));
    assertEquals(0.5625, PillowResize.bicubicFilter(0.5));
    assertEquals(-0.0625, PillowResize.bicubicFilter(-1.5));
    assertEquals(0.0, PillowResize.bicubicFilter(2.0));
  }
}
