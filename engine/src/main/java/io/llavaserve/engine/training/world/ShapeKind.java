package io.llavaserve.engine.training.world;

/**
 * The four kinds of filled shape in the synthetic world, each with the word the questions and
 * answers use for it.
 *
 * <p>Each kind also knows how much of its {@code size x size} box it fills, so that "the largest
 * shape" is judged by painted area rather than by box alone: a star fills far less of its box than
 * a square of the same side.
 */
public enum ShapeKind {
  CIRCLE("circle", Math.PI / 4),
  SQUARE("square", 1.0),
  TRIANGLE("triangle", 0.5),
  STAR("star", ShapeOutline.starAreaFraction());

  private final String word;
  private final double areaFraction;

  ShapeKind(String word, double areaFraction) {
    this.word = word;
    this.areaFraction = areaFraction;
  }

  /** The singular noun, lower case: "circle". */
  public String word() {
    return word;
  }

  /** The plural noun, lower case: "circles". */
  public String plural() {
    return word + "s";
  }

  /** Painted area as a fraction of {@code size * size}. */
  double areaFraction() {
    return areaFraction;
  }
}
