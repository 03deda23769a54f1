package io.llavaserve.engine.training.world;

import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;

/**
 * The outline of a placed shape in pixel coordinates, shared by the renderer and by the area
 * fractions that decide "the largest shape".
 *
 * <p>Every outline is centred on the shape's box: a circle of diameter {@code size}, an upright
 * square of side {@code size}, an isosceles triangle with its apex at the top middle and its base
 * along the bottom of the box, and an upright five-pointed star exactly {@code size} wide (its
 * height is {@code 0.951 * size}, so it sits centred in the box with a little room above and
 * below).
 */
final class ShapeOutline {

  /**
   * Inner radius over outer radius: fatter than a pentagram (0.382) so small stars stay legible.
   */
  static final double STAR_INNER_RATIO = 0.45;

  private static final double SIN_72 = Math.sin(Math.toRadians(72));
  private static final double COS_36 = Math.cos(Math.toRadians(36));

  private ShapeOutline() {}

  static Shape of(PlacedShape shape) {
    double s = shape.size();
    double left = shape.centerX() - s / 2;
    double top = shape.centerY() - s / 2;
    return switch (shape.kind()) {
      case CIRCLE -> new Ellipse2D.Double(left, top, s, s);
      case SQUARE -> new Rectangle2D.Double(left, top, s, s);
      case TRIANGLE -> triangle(shape.centerX(), top, s);
      case STAR -> star(shape.centerX(), shape.centerY(), s);
    };
  }

  /** Star area over {@code size^2}: ten triangles of sides R and r meeting at 36 degrees. */
  static double starAreaFraction() {
    double outer = 0.5 / SIN_72;
    return 5 * outer * outer * STAR_INNER_RATIO * Math.sin(Math.toRadians(36));
  }

  private static Shape triangle(double centerX, double top, double s) {
    Path2D.Double path = new Path2D.Double();
    path.moveTo(centerX, top);
    path.lineTo(centerX + s / 2, top + s);
    path.lineTo(centerX - s / 2, top + s);
    path.closePath();
    return path;
  }

  private static Shape star(double centerX, double centerY, double s) {
    // Outer radius R so that the arm tips span the width: 2 R sin 72 = s. The star is R (1 + cos
    // 36)
    // tall; its own centre sits below the box centre by half the difference to R.
    double outer = s / (2 * SIN_72);
    double inner = outer * STAR_INNER_RATIO;
    double height = outer * (1 + COS_36);
    double starCenterY = centerY - height / 2 + outer;
    Path2D.Double path = new Path2D.Double();
    for (int i = 0; i < 10; i++) {
      double radius = i % 2 == 0 ? outer : inner;
      double angle = Math.toRadians(-90 + 36 * i);
      double x = centerX + radius * Math.cos(angle);
      double y = starCenterY + radius * Math.sin(angle);
      if (i == 0) {
        path.moveTo(x, y);
      } else {
        path.lineTo(x, y);
      }
    }
    path.closePath();
    return path;
  }
}
