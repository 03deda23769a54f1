package io.llavaserve.engine.training.world;

/**
 * One filled shape of a {@link Scene}, in pixels.
 *
 * <p>The shape occupies the {@code size x size} box centred on {@code (centerX, centerY)}; see
 * {@link ShapeKind} for how each kind fills it. {@code rgb} is the actual fill, the base of {@code
 * color} with a little jitter, so that a model learns the hue rather than one exact value.
 *
 * @param kind circle, square, triangle or star
 * @param color the colour word the questions use
 * @param rgb the fill as {@code 0xRRGGBB}
 * @param centerX centre of the box, pixels from the left edge
 * @param centerY centre of the box, pixels from the top edge
 * @param size side of the box in pixels, positive
 */
public record PlacedShape(
    ShapeKind kind, ShapeColor color, int rgb, double centerX, double centerY, double size) {

  public PlacedShape {
    if (kind == null || color == null) {
      throw new IllegalArgumentException("kind and color must not be null");
    }
    if ((rgb & ~0xFFFFFF) != 0) {
      throw new IllegalArgumentException("rgb must be 0xRRGGBB, got " + Integer.toHexString(rgb));
    }
    if (!Double.isFinite(centerX) || !Double.isFinite(centerY)) {
      throw new IllegalArgumentException("centre must be finite, got " + centerX + ", " + centerY);
    }
    if (!(size > 0) || !Double.isFinite(size)) {
      throw new IllegalArgumentException("size must be positive, got " + size);
    }
  }

  /** Left edge of the box. */
  public double left() {
    return centerX - size / 2;
  }

  /** Right edge of the box. */
  public double right() {
    return centerX + size / 2;
  }

  /** Top edge of the box. */
  public double top() {
    return centerY - size / 2;
  }

  /** Bottom edge of the box. */
  public double bottom() {
    return centerY + size / 2;
  }

  /** Painted area in square pixels. */
  public double area() {
    return kind.areaFraction() * size * size;
  }

  /** "red circle": the colour and kind words, which name the shape in questions. */
  String name() {
    return color.word() + " " + kind.word();
  }
}
