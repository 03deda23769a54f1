package io.llavaserve.engine.training.world;

import java.util.SplittableRandom;

/**
 * The six fill colours of the synthetic world. Each has a clear base hue; a shape's actual fill is
 * the base jittered by at most {@link #JITTER} per channel, which keeps every fill nearer its own
 * hue than any other: the bases are more than 90 apart in RGB, over three times the largest jitter
 * distance of 26, and their hues stay in disjoint bands (red within 10 degrees of 0, orange 20 to
 * 36, yellow 46 to 63, green 114 to 144, blue 216 to 237, purple 267 to 296).
 *
 * <p>Other people's pictures of the same six colours are rarely these fills: CSS's {@code green}
 * and {@code purple} are half as bright, its {@code blue} and {@code orange} lie outside the hue
 * bands above, matplotlib's {@code tab:blue} and {@code tab:purple} are paler. {@link #wideRgb}
 * draws a fill from a much wider range of each colour, in hue, saturation and value, that holds the
 * usual named variants (CSS, X11 and matplotlib's, see the test) while the six ranges stay apart:
 * hues red 345 to 8 degrees, orange 18 to 40, yellow 48 to 64, green 85 to 160, blue 198 to 245,
 * purple 262 to 305.
 */
public enum ShapeColor {
  RED("red", 0xD72020, -15, 8, 0.65, 0.65, 1.0),
  GREEN("green", 0x28AA3C, 85, 160, 0.5, 0.42, 1.0),
  BLUE("blue", 0x2850DC, 198, 245, 0.6, 0.6, 1.0),
  YELLOW("yellow", 0xF0DC14, 48, 64, 0.7, 0.75, 1.0),
  PURPLE("purple", 0x8C32B4, 262, 305, 0.42, 0.42, 0.9),
  ORANGE("orange", 0xF57A0F, 18, 40, 0.75, 0.85, 1.0);

  /** The largest change of any one channel from the base colour. */
  public static final int JITTER = 15;

  private final String word;
  private final int baseRgb;
  private final double hueFrom;
  private final double hueTo;
  private final double minSaturation;
  private final double minValue;
  private final double maxValue;

  ShapeColor(
      String word,
      int baseRgb,
      double hueFrom,
      double hueTo,
      double minSaturation,
      double minValue,
      double maxValue) {
    this.word = word;
    this.baseRgb = baseRgb;
    this.hueFrom = hueFrom;
    this.hueTo = hueTo;
    this.minSaturation = minSaturation;
    this.minValue = minValue;
    this.maxValue = maxValue;
  }

  /** The colour word, lower case: "red". */
  public String word() {
    return word;
  }

  /** The base fill as {@code 0xRRGGBB}, before jitter. */
  public int baseRgb() {
    return baseRgb;
  }

  /**
   * A fill from this colour's wide range as {@code 0xRRGGBB}: hue, saturation and value (HSV) each
   * drawn uniformly from the colour's range.
   */
  public int wideRgb(SplittableRandom random) {
    double hue = hueFrom + random.nextDouble() * (hueTo - hueFrom);
    double saturation = minSaturation + random.nextDouble() * (1 - minSaturation);
    double value = minValue + random.nextDouble() * (maxValue - minValue);
    return hsv(hue, saturation, value);
  }

  /**
   * Whether {@code rgb} lies in this colour's wide range (hue within the range's band, saturation
   * and value within theirs, give or take the rounding of 8-bit channels).
   */
  public boolean holds(int rgb) {
    double r = (rgb >> 16 & 0xFF) / 255.0;
    double g = (rgb >> 8 & 0xFF) / 255.0;
    double b = (rgb & 0xFF) / 255.0;
    double max = Math.max(r, Math.max(g, b));
    double min = Math.min(r, Math.min(g, b));
    double chroma = max - min;
    if (max == 0 || chroma == 0) {
      return false;
    }
    double hue;
    if (max == r) {
      hue = 60 * (((g - b) / chroma) % 6);
    } else if (max == g) {
      hue = 60 * ((b - r) / chroma + 2);
    } else {
      hue = 60 * ((r - g) / chroma + 4);
    }
    hue = ((hue % 360) + 360) % 360;
    // Rounding to 8 bits moves a pale or dark fill's hue by up to about a degree and a half; the
    // bands are at least 8 degrees apart, so the slack never lets a fill into two of them.
    double slack = 1.5 / 255;
    double hueSlack = 1.5;
    boolean inBand =
        hueFrom < 0
            ? hue >= 360 + hueFrom - hueSlack || hue <= hueTo + hueSlack
            : hue >= hueFrom - hueSlack && hue <= hueTo + hueSlack;
    return inBand
        && chroma / max >= minSaturation - slack
        && max >= minValue - slack
        && max <= maxValue + slack;
  }

  /** Hue in degrees (any real, taken modulo 360), saturation and value in [0, 1], as 0xRRGGBB. */
  static int hsv(double hue, double saturation, double value) {
    double h = ((hue % 360) + 360) % 360 / 60;
    double c = value * saturation;
    double x = c * (1 - Math.abs(h % 2 - 1));
    double r;
    double g;
    double b;
    switch ((int) h) {
      case 0 -> {
        r = c;
        g = x;
        b = 0;
      }
      case 1 -> {
        r = x;
        g = c;
        b = 0;
      }
      case 2 -> {
        r = 0;
        g = c;
        b = x;
      }
      case 3 -> {
        r = 0;
        g = x;
        b = c;
      }
      case 4 -> {
        r = x;
        g = 0;
        b = c;
      }
      default -> {
        r = c;
        g = 0;
        b = x;
      }
    }
    double m = value - c;
    return channel(r + m) << 16 | channel(g + m) << 8 | channel(b + m);
  }

  private static int channel(double v) {
    return (int) Math.max(0, Math.min(255, Math.round(v * 255)));
  }

  /** "a" or "an", whichever reads before this colour word ("an orange star"). */
  String article() {
    return this == ORANGE ? "an" : "a";
  }
}
