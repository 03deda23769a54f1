package io.llavaserve.engine.training;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A child JVM of {@link ResumeAfterKillTest}: trains {@link ResumeAfterKillTest#plan()} into the
 * run folder given as the first argument, saving its state every so many milliseconds (the second),
 * with so many instruction steps (the third).
 */
public final class TrainerChildMain {

  private TrainerChildMain() {}

  public static void main(String[] args) throws Exception {
    Duration saveEvery = Duration.ofMillis(Long.parseLong(args[1]));
    int instructSteps = Integer.parseInt(args[2]);
    new Trainer(ResumeAfterKillTest.options(Path.of(args[0]), saveEvery, instructSteps), System.out)
        .run();
  }
}
