package io.llavaserve.engine.training.world;

/**
 * The six fill colours of the synthetic world. Each has a clear base hue; a shape's actual fill is
 * the base jittered by at most {@link #JITTER} per channel, which keeps every fill nearer its own
 * hue than any other: the bases are more than 90 apart in RGB, over three times the largest jitter
 * distance of 26, and their hues stay in disjoint bands (red within 10 degrees of 0, orange 20 to
 * 36, yellow 46 to 63, green 114 to 144, blue 216 to 237, purple 267 to 296).
 */
public enum ShapeColor {
  RED("red", 0xD72020),
  GREEN("green", 0x28AA3C),
  BLUE("blue", 0x2850DC),
  YELLOW("yellow", 0xF0DC14),
  PURPLE("purple", 0x8C32B4),
  ORANGE("orange", 0xF57A0F);

  /** The largest change of any one channel from the base colour. */
  public static final int JITTER = 15;

  private final String word;
  private final int baseRgb;

  ShapeColor(String word, int baseRgb) {
    this.word = word;
    this.baseRgb = baseRgb;
  }

  /** The colour word, lower case: "red". */
  public String word() {
    return word;
  }

  /** The base fill as {@code 0xRRGGBB}, before jitter. */
  public int baseRgb() {
    return baseRgb;
  }

  /** "a" or "an", whichever reads before this colour word ("an orange star"). */
  String article() {
    return this == ORANGE ? "an" : "a";
  }
}
