package io.llavaserve.engine.training;

/**
 * How long and how fast one stage trains.
 *
 * @param stage which stage
 * @param steps optimisation steps
 * @param batchSize sequences (or image/caption pairs) per step
 * @param learningRate peak learning rate
 * @param warmupSteps linear warmup from zero, then cosine decay to a tenth of the peak
 * @param towerLearningRateScale the vision tower's learning rate as a fraction of the stage's, in
 *     the instruction stage only: 0 keeps the tower frozen (LLaVA-1.5); LLaVA-NeXT and OneVision
 *     tune it in their last stage at a fifth to a tenth of the language model's rate
 */
public record StagePlan(
    Stage stage,
    int steps,
    int batchSize,
    double learningRate,
    int warmupSteps,
    double towerLearningRateScale) {

  public StagePlan {
    if (steps < 0 || batchSize < 2 || !(learningRate > 0) || warmupSteps < 0) {
      throw new IllegalArgumentException(
          stage + ": steps >= 0, batch size >= 2, learning rate > 0 and warmup >= 0 required");
    }
    if (!(towerLearningRateScale >= 0 && towerLearningRateScale <= 1)) {
      throw new IllegalArgumentException(
          stage
              + ": the tower's learning rate scale must be in [0, 1], got "
              + towerLearningRateScale);
    }
    if (towerLearningRateScale > 0 && stage != Stage.INSTRUCT) {
      throw new IllegalArgumentException(
          "only the instruction stage can tune the tower, not " + stage);
    }
  }

  /** A plan that leaves the tower as it is. */
  public StagePlan(Stage stage, int steps, int batchSize, double learningRate, int warmupSteps) {
    this(stage, steps, batchSize, learningRate, warmupSteps, 0);
  }

  /** This plan with {@code steps} steps and {@code warmupSteps} of warmup. */
  public StagePlan withSteps(int steps, int warmupSteps) {
    return new StagePlan(
        stage, steps, batchSize, learningRate, warmupSteps, towerLearningRateScale);
  }

  /** This plan with a peak learning rate of {@code rate}. */
  public StagePlan withLearningRate(double rate) {
    return new StagePlan(stage, steps, batchSize, rate, warmupSteps, towerLearningRateScale);
  }

  /** This plan with the tower learning at {@code scale} times the stage's rate. */
  public StagePlan withTowerLearningRateScale(double scale) {
    return new StagePlan(stage, steps, batchSize, learningRate, warmupSteps, scale);
  }

  /** Whether the vision tower learns in this stage. */
  public boolean tunesTower() {
    return towerLearningRateScale > 0;
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
