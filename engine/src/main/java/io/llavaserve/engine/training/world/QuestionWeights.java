package io.llavaserve.engine.training.world;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * How often each {@link QuestionType} is drawn for a short-answer turn of the training stream:
 * uniform by default, or weighted to practise some types more, as a fine-tune aimed at a model's
 * weak types does. The held-out evaluation set always asks every type equally.
 */
public final class QuestionWeights {

  private static final QuestionType[] TYPES = QuestionType.values();

  /** Every type equally likely. */
  public static final QuestionWeights UNIFORM = new QuestionWeights(null);

  /** Cumulative weights in declaration order, or null for uniform. */
  private final double[] cumulative;

  private QuestionWeights(double[] cumulative) {
    this.cumulative = cumulative;
  }

  /**
   * Weights by type; a type not named weighs 1. Each weight must be finite and >= 0, and at least
   * one type must weigh more than 0.
   */
  public static QuestionWeights of(Map<QuestionType, Double> weights) {
    double[] w = new double[TYPES.length];
    Arrays.fill(w, 1);
    for (Map.Entry<QuestionType, Double> e : weights.entrySet()) {
      double v = e.getValue();
      if (!(v >= 0) || Double.isInfinite(v)) {
        throw new IllegalArgumentException(
            "the weight of " + name(e.getKey()) + " questions must be finite and >= 0, got " + v);
      }
      w[e.getKey().ordinal()] = v;
    }
    boolean uniform = true;
    double[] cumulative = new double[TYPES.length];
    double sum = 0;
    for (int i = 0; i < w.length; i++) {
      uniform &= w[i] == w[0];
      sum += w[i];
      cumulative[i] = sum;
    }
    if (!(sum > 0)) {
      throw new IllegalArgumentException("at least one question type must weigh more than 0");
    }
    return uniform ? UNIFORM : new QuestionWeights(cumulative);
  }

  /**
   * Parses {@code type=weight} pairs separated by commas, such as {@code
   * "position=2,attribute_count=2"}; type names as {@link QuestionType}'s, in any case.
   */
  public static QuestionWeights parse(String text) {
    Map<QuestionType, Double> weights = new EnumMap<>(QuestionType.class);
    for (String pair : text.split(",", -1)) {
      String[] kv = pair.trim().split("=", -1);
      if (kv.length != 2) {
        throw new IllegalArgumentException(
            "question weights must be TYPE=WEIGHT pairs separated by commas, got \"" + text + "\"");
      }
      QuestionType type;
      try {
        type = QuestionType.valueOf(kv[0].trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "unknown question type \""
                + kv[0].trim()
                + "\"; the types are "
                + String.join(", ", Arrays.stream(TYPES).map(QuestionWeights::name).toList()));
      }
      if (weights.containsKey(type)) {
        throw new IllegalArgumentException(name(type) + " is weighted twice in \"" + text + "\"");
      }
      try {
        weights.put(type, Double.parseDouble(kv[1].trim()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "the weight of " + name(type) + " questions must be a number, got \"" + kv[1] + "\"");
      }
    }
    return of(weights);
  }

  /** Whether every type is equally likely. */
  public boolean uniform() {
    return cumulative == null;
  }

  /** The chance of drawing {@code type}. */
  public double share(QuestionType type) {
    if (cumulative == null) {
      return 1.0 / TYPES.length;
    }
    int i = type.ordinal();
    double below = i == 0 ? 0 : cumulative[i - 1];
    return (cumulative[i] - below) / cumulative[TYPES.length - 1];
  }

  /**
   * Draws a type. The uniform weights draw exactly as the stream always has (one {@code nextInt}),
   * so a run without weights sees the same samples as before they existed.
   */
  public QuestionType draw(SplittableRandom r) {
    if (cumulative == null) {
      return TYPES[r.nextInt(TYPES.length)];
    }
    double u = r.nextDouble() * cumulative[TYPES.length - 1];
    for (int i = 0; i < TYPES.length; i++) {
      if (u < cumulative[i]) {
        return TYPES[i];
      }
    }
    // u rounds up to the total only when the last types weigh 0: take the last type that weighs.
    for (int i = TYPES.length - 1; i > 0; i--) {
      if (cumulative[i] > cumulative[i - 1]) {
        return TYPES[i];
      }
    }
    return TYPES[0];
  }

  @Override
  public String toString() {
    if (cumulative == null) {
      return "uniform";
    }
    StringBuilder s = new StringBuilder();
    for (QuestionType t : TYPES) {
      if (s.length() > 0) {
        s.append(',');
      }
      s.append(name(t)).append('=').append(String.format(Locale.ROOT, "%.3f", share(t)));
    }
    return s.toString();
  }

  private static String name(QuestionType type) {
    return type.name().toLowerCase(Locale.ROOT);
  }
}
