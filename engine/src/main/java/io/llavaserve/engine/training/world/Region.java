package io.llavaserve.engine.training.world;

/**
 * Where a shape sits, on a 3 x 3 grid of the image's thirds, judged by the centre of its box.
 * Descriptions and conversations say where a shape is only in these nine words, so every "where" is
 * decided by one comparison of the centre with {@code width / 3}, {@code 2 width / 3} and the same
 * for the height.
 */
public enum Region {
  TOP_LEFT("at the top left"),
  TOP("at the top"),
  TOP_RIGHT("at the top right"),
  LEFT("on the left"),
  CENTER("in the center"),
  RIGHT("on the right"),
  BOTTOM_LEFT("at the bottom left"),
  BOTTOM("at the bottom"),
  BOTTOM_RIGHT("at the bottom right");

  private static final Region[] GRID = values();

  private final String phrase;

  Region(String phrase) {
    this.phrase = phrase;
  }

  /** The prepositional phrase that follows a shape's name: "at the top left", "in the center". */
  public String phrase() {
    return phrase;
  }

  /** The region holding the centre of {@code shape}'s box. */
  public static Region of(Scene scene, PlacedShape shape) {
    int column = third(shape.centerX(), scene.width());
    int row = third(shape.centerY(), scene.height());
    return GRID[row * 3 + column];
  }

  private static int third(double position, int extent) {
    if (position < extent / 3.0) {
      return 0;
    }
    return position < 2 * extent / 3.0 ? 1 : 2;
  }
}
