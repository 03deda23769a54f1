package io.llavaserve.engine.training.world;

import java.util.List;

/**
 * One image of the synthetic world: a light background and one to four filled shapes that neither
 * touch each other nor the border.
 *
 * <p>The compact constructor enforces the whole world contract, so that every question and
 * description can rely on it: each shape's box is {@link #MIN_SIZE_FRACTION} to {@link
 * #MAX_SIZE_FRACTION} of the shorter side, and every box grown by {@link #margin()} on all sides
 * lies inside the image and is disjoint from every other grown box. The gap this leaves between
 * shapes keeps them separate objects even after anti-aliasing and JPEG compression.
 *
 * @param width pixels per row, {@link SizeRange#MIN_SIDE} to {@link SizeRange#MAX_SIDE}
 * @param height rows, same bounds
 * @param background the background as {@code 0xRRGGBB}, each channel at least {@link
 *     #MIN_BACKGROUND}
 * @param shapes one to {@link #MAX_SHAPES} shapes, in drawing order
 */
public record Scene(int width, int height, int background, List<PlacedShape> shapes) {

  public static final int MAX_SHAPES = 4;
  public static final double MIN_SIZE_FRACTION = 0.15;
  public static final double MAX_SIZE_FRACTION = 0.35;

  /** The darkest channel of a background: light enough that every fill stands out. */
  public static final int MIN_BACKGROUND = 230;

  /** Slack for sizes and edges computed in floating point. */
  private static final double EPSILON = 1e-9;

  public Scene {
    if (width < SizeRange.MIN_SIDE
        || width > SizeRange.MAX_SIDE
        || height < SizeRange.MIN_SIDE
        || height > SizeRange.MAX_SIDE) {
      throw new IllegalArgumentException(
          "sides must be "
              + SizeRange.MIN_SIDE
              + " to "
              + SizeRange.MAX_SIDE
              + ", got "
              + width
              + " x "
              + height);
    }
    if ((background & ~0xFFFFFF) != 0
        || (background >> 16 & 0xFF) < MIN_BACKGROUND
        || (background >> 8 & 0xFF) < MIN_BACKGROUND
        || (background & 0xFF) < MIN_BACKGROUND) {
      throw new IllegalArgumentException(
          "background must be 0xRRGGBB with every channel >= "
              + MIN_BACKGROUND
              + ", got "
              + Integer.toHexString(background));
    }
    shapes = List.copyOf(shapes);
    if (shapes.isEmpty() || shapes.size() > MAX_SHAPES) {
      throw new IllegalArgumentException(
          "a scene holds 1 to " + MAX_SHAPES + " shapes, got " + shapes.size());
    }
    double shorter = Math.min(width, height);
    double margin = margin(width, height);
    for (int i = 0; i < shapes.size(); i++) {
      PlacedShape a = shapes.get(i);
      if (a.size() < MIN_SIZE_FRACTION * shorter - EPSILON
          || a.size() > MAX_SIZE_FRACTION * shorter + EPSILON) {
        throw new IllegalArgumentException(
            "shape " + i + " has size " + a.size() + ", outside 15% to 35% of " + shorter);
      }
      if (a.left() - margin < -EPSILON
          || a.top() - margin < -EPSILON
          || a.right() + margin > width + EPSILON
          || a.bottom() + margin > height + EPSILON) {
        throw new IllegalArgumentException(
            "shape " + i + " with its margin of " + margin + " px is not inside the image");
      }
      for (int j = 0; j < i; j++) {
        if (overlap(a, shapes.get(j), margin)) {
          throw new IllegalArgumentException(
              "shapes " + j + " and " + i + " overlap once grown by " + margin + " px");
        }
      }
    }
  }

  /** The room kept around every shape: 2% of the shorter side, at least 2 pixels. */
  public double margin() {
    return margin(width, height);
  }

  static double margin(int width, int height) {
    return Math.max(2.0, 0.02 * Math.min(width, height));
  }

  /** Whether the boxes of {@code a} and {@code b}, each grown by {@code margin}, intersect. */
  static boolean overlap(PlacedShape a, PlacedShape b, double margin) {
    return a.left() - margin < b.right() + margin
        && b.left() - margin < a.right() + margin
        && a.top() - margin < b.bottom() + margin
        && b.top() - margin < a.bottom() + margin;
  }
}
