package io.llavaserve.engine.training.world;

/**
 * The range each image side is drawn from, in pixels, both ends included. The two sides are drawn
 * independently, so a range wider than one value yields every aspect ratio from {@code max:min} to
 * {@code min:max}.
 *
 * @param min smallest side, at least {@link #MIN_SIDE}
 * @param max largest side, from {@code min} to {@link #MAX_SIDE}
 */
public record SizeRange(int min, int max) {

  /** Below this the smallest shapes (15% of the shorter side) would be under 10 pixels. */
  public static final int MIN_SIDE = 64;

  /** Above this a rendered scene outgrows what a training batch should decode. */
  public static final int MAX_SIDE = 1024;

  public SizeRange {
    if (min < MIN_SIDE || max > MAX_SIDE || min > max) {
      throw new IllegalArgumentException(
          "sides must satisfy "
              + MIN_SIDE
              + " <= min <= max <= "
              + MAX_SIDE
              + ", got min "
              + min
              + ", max "
              + max);
    }
  }

  /** Every image exactly {@code side x side}. */
  public static SizeRange square(int side) {
    return new SizeRange(side, side);
  }
}
