package io.llavaserve.engine.training;

/**
 * How long and how fast one stage trains.
 *
 * @param stage which stage
 * @param steps optimisation steps
 * @param batchSize sequences (or image/caption pairs) per step
 * @param learningRate peak learning rate
 * @param warmupSteps linear warmup from zero, then cosine decay to a tenth of the peak
 */
public record StagePlan(
    Stage stage, int steps, int batchSize, double learningRate, int warmupSteps) {

  public StagePlan {
    if (steps < 0 || batchSize < 2 || !(learningRate > 0) || warmupSteps < 0) {
      throw new IllegalArgumentException(
          stage + ": steps >= 0, batch size >= 2, learning rate > 0 and warmup >= 0 required");
    }
  }

  /** The learning rate at {@code step} (0-based). */
  public double learningRate(long step) {
    if (step < warmupSteps) {
      return learningRate * (step + 1) / (warmupSteps + 1);
    }
    double progress =
        steps <= warmupSteps ? 1 : (double) (step - warmupSteps) / (steps - warmupSteps);
    double cosine = 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
    return learningRate * (0.1 + 0.9 * cosine);
  }
}
