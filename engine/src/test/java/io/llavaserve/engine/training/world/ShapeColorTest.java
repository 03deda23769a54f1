package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ShapeColorTest {

  /**
   * What other people draw for the six colours: CSS and X11 named colours, matplotlib's default
   * cycle ({@code tab:}) and its one-letter colours, and a few sets of "distinct colours" used in
   * plots.
   */
  private static final Map<ShapeColor, int[]> NAMED =
      Map.of(
          ShapeColor.RED,
          new int[] {0xFF0000, 0xD62728, 0xB22222, 0xDC143C, 0xE6194B, 0xCD0000},
          ShapeColor.GREEN,
          new int[] {0x008000, 0x00FF00, 0x2CA02C, 0x228B22, 0x32CD32, 0x2E8B57, 0x3CB44B},
          ShapeColor.BLUE,
          new int[] {0x0000FF, 0x1F77B4, 0x4169E1, 0x1E90FF, 0x0000CD, 0x4682B4, 0x0082C8},
          ShapeColor.YELLOW,
          new int[] {0xFFFF00, 0xFFD700, 0xBFBF00, 0xFFE119, 0xF0E442, 0xEEEE00},
          ShapeColor.PURPLE,
          new int[] {0x800080, 0x9467BD, 0x9400D3, 0x8A2BE2, 0x4B0082, 0x663399, 0xBF00BF},
          ShapeColor.ORANGE,
          new int[] {0xFFA500, 0xFF8C00, 0xFF7F0E, 0xF58231, 0xFF9900});

  @Test
  void theUsualNamedVariantsOfEachColourLieInItsWideRangeAndNoOther() {
    for (Map.Entry<ShapeColor, int[]> e : NAMED.entrySet()) {
      for (int rgb : e.getValue()) {
        for (ShapeColor c : ShapeColor.values()) {
          assertEquals(
              c == e.getKey(), c.holds(rgb), () -> String.format("%06X as %s", rgb, c.word()));
        }
      }
    }
  }

  @Test
  void theBaseFillsLieInTheirWideRangesAndTheirJitterInNoOtherColours() {
    SplittableRandom random = new SplittableRandom(3);
    for (ShapeColor c : ShapeColor.values()) {
      assertTrue(c.holds(c.baseRgb()), c::word);
      for (int i = 0; i < 2000; i++) {
        int rgb = 0;
        for (int shift = 16; shift >= 0; shift -= 8) {
          int v = (c.baseRgb() >> shift & 0xFF) + random.nextInt(-15, 16);
          rgb |= Math.max(0, Math.min(255, v)) << shift;
        }
        int drawn = rgb;
        for (ShapeColor other : ShapeColor.values()) {
          assertTrue(
              other == c || !other.holds(drawn),
              () -> String.format("%s %06X held by %s", c.word(), drawn, other.word()));
        }
      }
    }
  }

  @Test
  void everyWideFillIsHeldByItsOwnColourAloneAndTheRangeIsCovered() {
    SplittableRandom random = new SplittableRandom(5);
    for (ShapeColor c : ShapeColor.values()) {
      double minHue = 360;
      double maxHue = -360;
      for (int i = 0; i < 20_000; i++) {
        int rgb = c.wideRgb(random);
        for (ShapeColor other : ShapeColor.values()) {
          assertEquals(
              other == c,
              other.holds(rgb),
              () -> String.format("%06X drawn for %s, held by %s", rgb, c.word(), other.word()));
        }
        float[] hsb = java.awt.Color.RGBtoHSB(rgb >> 16 & 0xFF, rgb >> 8 & 0xFF, rgb & 0xFF, null);
        double hue = hsb[0] * 360;
        if (c == ShapeColor.RED && hue > 180) {
          hue -= 360;
        }
        minHue = Math.min(minHue, hue);
        maxHue = Math.max(maxHue, hue);
      }
      // The draws spread over the band, not one corner of it.
      assertTrue(maxHue - minHue > 15, c.word() + " hues " + minHue + " to " + maxHue);
    }
  }

  @Test
  void wideFillsStandOutFromTheLightestBackground() {
    SplittableRandom random = new SplittableRandom(8);
    for (ShapeColor c : ShapeColor.values()) {
      for (int i = 0; i < 5000; i++) {
        int rgb = c.wideRgb(random);
        int far = 0;
        for (int shift = 16; shift >= 0; shift -= 8) {
          far = Math.max(far, Math.abs((rgb >> shift & 0xFF) - 0xFF));
        }
        int f = far;
        // Farther from white than the rendered-answer checker's threshold (30), with room.
        assertTrue(f > 100, () -> String.format("%s %06X", c.word(), rgb));
      }
    }
  }

  @Test
  void hsvGivesTheKnownCorners() {
    assertEquals(0xFF0000, ShapeColor.hsv(0, 1, 1));
    assertEquals(0xFF0000, ShapeColor.hsv(360, 1, 1));
    assertEquals(0x008000, ShapeColor.hsv(120, 1, 128 / 255.0));
    assertEquals(0x0000FF, ShapeColor.hsv(240, 1, 1));
    assertEquals(0x800080, ShapeColor.hsv(300, 1, 128 / 255.0));
    assertEquals(0xFFFF00, ShapeColor.hsv(60, 1, 1));
    assertEquals(0xFFFFFF, ShapeColor.hsv(17, 0, 1));
    assertEquals(0xFF0000, ShapeColor.hsv(-360, 1, 1));
    assertFalse(ShapeColor.RED.holds(0x808080));
    assertFalse(ShapeColor.PURPLE.holds(0xFF00FF));
  }
}
