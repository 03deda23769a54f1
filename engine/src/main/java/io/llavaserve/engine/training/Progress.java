package io.llavaserve.engine.training;

import java.io.PrintStream;

/**
 * A one-line progress bar: stage, step, loss (smoothed), tokens per second, ETA. Redrawn in place
 * on a terminal, printed as a line every ten seconds otherwise.
 */
final class Progress {

  private final StagePlan plan;
  private final PrintStream out;
  private final boolean terminal = System.console() != null;
  private final long start = System.nanoTime();
  private final long firstStep;
  private long tokens;
  private double smoothed = Double.NaN;
  private long lastPrint;

  Progress(StagePlan plan, long firstStep, PrintStream out) {
    this.plan = plan;
    this.firstStep = firstStep;
    this.out = out;
  }

  void update(long step, StageSession.StepResult r, long stepTokens, float lr) {
    tokens += stepTokens;
    smoothed = Double.isNaN(smoothed) ? r.loss() : 0.95 * smoothed + 0.05 * r.loss();
    long now = System.nanoTime();
    if (!terminal && now - lastPrint < 10_000_000_000L && step < plan.steps()) {
      return;
    }
    lastPrint = now;
    double seconds = (now - start) / 1e9;
    double perStep = seconds / Math.max(1, step - firstStep);
    long eta = Math.round(perStep * (plan.steps() - step));
    int width = 24;
    int filled = (int) (width * step / Math.max(1, plan.steps()));
    String bar = "#".repeat(filled) + "-".repeat(width - filled);
    String acc = Float.isNaN(r.accuracy()) ? "" : String.format(" acc %.2f", r.accuracy());
    String line =
        String.format(
            "%-8s [%s] %d/%d loss %.4f%s lr %.2e |g| %.2f %.0f tok/s ETA %d:%02d",
            plan.stage().name().toLowerCase(),
            bar,
            step,
            plan.steps(),
            smoothed,
            acc,
            lr,
            r.gradNorm(),
            tokens / Math.max(1e-9, seconds),
            eta / 60,
            eta % 60);
    out.print(terminal ? "\r" + line : line + "\n");
    out.flush();
  }

  void finish() {
    if (terminal) {
      out.println();
    }
    out.printf(
        "%s done in %.1f min%n",
        plan.stage().name().toLowerCase(), (System.nanoTime() - start) / 6e10);
  }
}
