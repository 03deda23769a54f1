package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Draws random {@link Scene}s: image sides, a light background, and one to four shapes placed by
 * rejection sampling.
 *
 * <p>Placement never loops forever. Each shape gets {@link #TRIES_PER_SHAPE} random positions; a
 * scene whose shapes do not all fit is drawn again from scratch up to {@link #TRIES_PER_COUNT}
 * times, and only then with one shape fewer. A single shape always fits (35% of the shorter side
 * plus two 2% margins), so the loop ends; with the sizes allowed, falling back to fewer shapes is
 * rare enough not to skew the count questions.
 *
 * <p>Everything comes from the {@link SplittableRandom} passed in: the same random state gives the
 * same scene.
 */
public final class SceneGenerator {

  static final int TRIES_PER_SHAPE = 200;
  static final int TRIES_PER_COUNT = 20;

  /** Darkest grey level of the background before tint. */
  static final int MIN_GREY = 235;

  /** Largest amount a tinted background lowers one channel. */
  static final int MAX_TINT = 5;

  private static final ShapeKind[] KINDS = ShapeKind.values();
  private static final ShapeColor[] COLORS = ShapeColor.values();

  private final SizeRange sizes;
  private final double monochromeShare;
  private final double wideColorShare;

  public SceneGenerator(SizeRange sizes) {
    this(sizes, 0);
  }

  /**
   * Scenes whose shapes all share one colour with probability {@code monochromeShare}; at 0 the
   * draws are exactly those of {@link #SceneGenerator(SizeRange)}.
   */
  public SceneGenerator(SizeRange sizes, double monochromeShare) {
    this(sizes, monochromeShare, 0);
  }

  /**
   * As {@link #SceneGenerator(SizeRange, double)}, and with probability {@code wideColorShare} a
   * scene whose fills come from each colour's wide range ({@link ShapeColor#wideRgb}) rather than
   * its base with a little jitter; at 0 the draws are exactly those without it.
   */
  public SceneGenerator(SizeRange sizes, double monochromeShare, double wideColorShare) {
    if (sizes == null) {
      throw new IllegalArgumentException("sizes must not be null");
    }
    if (!(monochromeShare >= 0 && monochromeShare <= 1)) {
      throw new IllegalArgumentException(
          "the monochrome share must be in [0, 1], got " + monochromeShare);
    }
    if (!(wideColorShare >= 0 && wideColorShare <= 1)) {
      throw new IllegalArgumentException(
          "the wide-colour share must be in [0, 1], got " + wideColorShare);
    }
    this.sizes = sizes;
    this.monochromeShare = monochromeShare;
    this.wideColorShare = wideColorShare;
  }

  /** A scene whose width and height are drawn independently from the size range. */
  public Scene next(SplittableRandom random) {
    int width = random.nextInt(sizes.min(), sizes.max() + 1);
    int height = random.nextInt(sizes.min(), sizes.max() + 1);
    return next(width, height, random);
  }

  /** A scene of exactly {@code width x height}, whatever the size range. */
  public Scene next(int width, int height, SplittableRandom random) {
    int background = background(random);
    int wanted = random.nextInt(1, Scene.MAX_SHAPES + 1);
    // Drawn only when monochrome scenes are asked for, so the plain stream stays as it was.
    ShapeColor only =
        monochromeShare > 0 && random.nextDouble() < monochromeShare
            ? COLORS[random.nextInt(COLORS.length)]
            : null;
    // Likewise drawn only when wide fills are asked for.
    boolean wide = wideColorShare > 0 && random.nextDouble() < wideColorShare;
    for (int count = wanted; ; count--) {
      for (int attempt = 0; attempt < TRIES_PER_COUNT; attempt++) {
        List<PlacedShape> shapes = place(width, height, count, only, wide, random);
        if (shapes != null) {
          return new Scene(width, height, background, shapes);
        }
      }
      if (count == 1) {
        throw new IllegalStateException(
            "a single shape must always fit in " + width + " x " + height);
      }
    }
  }

  /** Grey 235 to 255; half of the time lowered by up to 5 per channel for a faint tint. */
  private static int background(SplittableRandom random) {
    int grey = random.nextInt(MIN_GREY, 256);
    int[] channel = {grey, grey, grey};
    if (random.nextBoolean()) {
      for (int c = 0; c < 3; c++) {
        channel[c] -= random.nextInt(MAX_TINT + 1);
      }
    }
    return channel[0] << 16 | channel[1] << 8 | channel[2];
  }

  /**
   * {@code count} non-overlapping shapes, all of colour {@code only} unless it is null, filled from
   * their colours' wide ranges when {@code wide}, or null when one of them found no room.
   */
  private static List<PlacedShape> place(
      int width, int height, int count, ShapeColor only, boolean wide, SplittableRandom random) {
    double shorter = Math.min(width, height);
    double margin = Scene.margin(width, height);
    List<PlacedShape> placed = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      ShapeKind kind = KINDS[random.nextInt(KINDS.length)];
      ShapeColor drawn = COLORS[random.nextInt(COLORS.length)];
      ShapeColor color = only != null ? only : drawn;
      int rgb = wide ? color.wideRgb(random) : jitter(color.baseRgb(), random);
      double size =
          shorter
              * (Scene.MIN_SIZE_FRACTION
                  + random.nextDouble() * (Scene.MAX_SIZE_FRACTION - Scene.MIN_SIZE_FRACTION));
      PlacedShape shape = null;
      for (int attempt = 0; attempt < TRIES_PER_SHAPE && shape == null; attempt++) {
        // The centre ranges over the positions that keep the grown box inside the image.
        double half = size / 2 + margin;
        double x = half + random.nextDouble() * (width - 2 * half);
        double y = half + random.nextDouble() * (height - 2 * half);
        PlacedShape candidate = new PlacedShape(kind, color, rgb, x, y, size);
        if (placed.stream().noneMatch(other -> Scene.overlap(candidate, other, margin))) {
          shape = candidate;
        }
      }
      if (shape == null) {
        return null;
      }
      placed.add(shape);
    }
    return placed;
  }

  private static int jitter(int base, SplittableRandom random) {
    int rgb = 0;
    for (int shift = 16; shift >= 0; shift -= 8) {
      int value =
          (base >> shift & 0xFF) + random.nextInt(-ShapeColor.JITTER, ShapeColor.JITTER + 1);
      rgb |= Math.max(0, Math.min(255, value)) << shift;
    }
    return rgb;
  }
}
