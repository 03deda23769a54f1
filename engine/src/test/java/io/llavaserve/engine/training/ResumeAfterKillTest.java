package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.training.world.SizeRange;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run killed for real (a child JVM, {@code destroyForcibly}) in the middle of instruction tuning
 * and started again on its run folder goes on from its last saved step, with the optimizer's
 * moments, and ends with exactly the weights of a run that was never interrupted: the data is a
 * function of (seed, stage, step) and everything else is in the saved state.
 */
class ResumeAfterKillTest {

  private static final long SEED = 5;
  private static final int INSTRUCT_STEPS = 14;

  @TempDir Path dir;

  /**
   * A short recipe: two steps of a stage before, so the resumed run must skip it, and a last stage
   * long enough to be killed inside. (CLIP and alignment are left out to save time.)
   */
  static List<StagePlan> plan(int instructSteps) {
    return List.of(
        new StagePlan(Stage.TEXT, 2, 2, 3e-3, 1),
        new StagePlan(Stage.INSTRUCT, instructSteps, 2, 3e-3, 3));
  }

  static Trainer.Options options(Path runDir, Duration saveEvery) {
    return options(runDir, saveEvery, INSTRUCT_STEPS);
  }

  static Trainer.Options options(Path runDir, Duration saveEvery, int instructSteps) {
    return new Trainer.Options(
        runDir,
        TrainingSpec.smoke(),
        plan(instructSteps),
        SEED,
        SizeRange.square(64),
        saveEvery,
        1,
        0.01,
        1.0);
  }

  @Test
  void aRunKilledMidStageResumesToTheWeightsOfAnUninterruptedRun() throws Exception {
    // Both runs from nothing in child JVMs side by side: the one to kill, saving after every
    // step, and the uninterrupted one, saving only at stage ends.
    Path killed = dir.resolve("killed");
    Path straight = dir.resolve("straight");
    Process victim = startChild(killed, 1);
    Process uninterrupted = startChild(straight, 3_600_000);
    try {
      long killedAt;
      try {
        killedAt = waitForInstructionTuning(victim, killed);
      } finally {
        victim.destroyForcibly();
        victim.waitFor(30, TimeUnit.SECONDS);
      }
      assertFalse(
          Files.exists(killed.resolve("final/config.json")), "the child must die before finishing");

      // How often it saves does not change what it computes; once at the end is enough here.
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      Path last;
      try (PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8)) {
        last = new Trainer(options(killed, Duration.ofHours(1)), out).run();
      }
      String resumed = log.toString(StandardCharsets.UTF_8);
      Matcher m = Pattern.compile("resuming INSTRUCT at step (\\d+)").matcher(resumed);
      assertTrue(m.find(), "the second run resumes instruction tuning:\n" + resumed);
      long from = Long.parseLong(m.group(1));
      assertTrue(
          from >= killedAt && from < INSTRUCT_STEPS,
          "resumed at " + from + ", killed at " + killedAt);
      assertFalse(resumed.contains(Stage.TEXT.title()), "text is not trained again:\n" + resumed);
      assertEquals(killed.resolve("final"), last);
      assertTrue(Files.isRegularFile(last.resolve("config.json")));

      assertTrue(uninterrupted.waitFor(120, TimeUnit.SECONDS), "the uninterrupted run ends");
      String straightLog = read(straight.resolve("child.log"));
      assertEquals(0, uninterrupted.exitValue(), straightLog);
      assertFalse(straightLog.contains("resuming"), "the reference ran from nothing to the end");
      Map<String, float[]> expected = TrainingState.load(straight).params();
      Map<String, float[]> actual = TrainingState.load(killed).params();
      assertEquals(expected.keySet(), actual.keySet());
      for (String name : expected.keySet()) {
        assertEquals(
            0.0,
            TrainingFixture.maxAbsDiff(expected.get(name), actual.get(name)),
            name + " after the resumed run");
      }
    } finally {
      uninterrupted.destroyForcibly();
    }
  }

  /**
   * A run sent SIGTERM ({@code Process.destroy}) in the middle of a step, as {@code kill} or a
   * container's stop does, lets the step end, saves its state there though no save was due, and
   * exits without tearing TensorFlow down under the step (no JVM crash file); started again, it
   * resumes at that step.
   */
  @Test
  void aRunStoppedBySigtermSavesTheStepItReachedAndResumesThere() throws Exception {
    Path run = dir.resolve("stopped");
    int steps = 100_000; // never reached: the stop comes first
    Process child = startChild(run, 3_600_000, steps);
    Path childLog = run.resolve("child.log");
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!read(childLog).contains("instruct [")) {
        if (!child.isAlive() || System.nanoTime() > deadline) {
          fail("the child never reached instruction tuning:\n" + read(childLog));
        }
        Thread.sleep(5);
      }
      child.destroy();
      assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child ends after SIGTERM");
    } finally {
      child.destroyForcibly();
    }
    String log = read(childLog);
    Matcher m = Pattern.compile("stopped at INSTRUCT step (\\d+) of " + steps).matcher(log);
    assertTrue(m.find(), "the child says where it stopped:\n" + log);
    long stoppedAt = Long.parseLong(m.group(1));
    assertTrue(stoppedAt >= 1, "at least the step it printed was done:\n" + log);
    assertEquals(143, child.exitValue(), "ended by the signal:\n" + log);
    try (var files = Files.list(run)) {
      assertEquals(
          List.of(),
          files.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList(),
          "the JVM did not crash");
    }
    JsonNode progress = new ObjectMapper().readTree(run.resolve("state/progress.json").toFile());
    assertEquals("INSTRUCT", progress.get("stage").asText());
    assertEquals(stoppedAt, progress.get("step").asLong(), "saved where it stopped");

    // Resumed with a stage that ends two steps later, so the test stays short.
    ByteArrayOutputStream resumedLog = new ByteArrayOutputStream();
    Path last;
    try (PrintStream out = new PrintStream(resumedLog, true, StandardCharsets.UTF_8)) {
      last = new Trainer(options(run, Duration.ofHours(1), (int) stoppedAt + 2), out).run();
    }
    String resumed = resumedLog.toString(StandardCharsets.UTF_8);
    assertTrue(
        resumed.contains("resuming INSTRUCT at step " + stoppedAt), "resumes there:\n" + resumed);
    assertTrue(Files.isRegularFile(last.resolve("config.json")));
  }

  @Test
  void aStopAskedForBeforeTheFirstStepSavesNothingAndSaysSo() throws Exception {
    Path run = dir.resolve("early");
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      Trainer trainer = new Trainer(options(run, Duration.ofHours(1)), out);
      trainer.requestStop();
      Trainer.StoppedException e = assertThrows(Trainer.StoppedException.class, trainer::run);
      assertEquals("stopped at TEXT step 0 of 2; run the same command to resume", e.getMessage());
    }
    assertFalse(Files.exists(run.resolve("state/progress.json")), "nothing was trained");
  }

  /**
   * A JVM running {@link TrainerChildMain} into {@code runDir} (its output in {@code
   * runDir/child.log}). The client compiler and the serial collector keep a short run's JIT and GC
   * work down; neither changes what TensorFlow computes.
   */
  private static Process startChild(Path runDir, long saveEveryMillis) throws IOException {
    return startChild(runDir, saveEveryMillis, INSTRUCT_STEPS);
  }

  private static Process startChild(Path runDir, long saveEveryMillis, int instructSteps)
      throws IOException {
    Files.createDirectories(runDir);
    return new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx1g",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            "-cp",
            System.getProperty("java.class.path"),
            TrainerChildMain.class.getName(),
            runDir.toString(),
            Long.toString(saveEveryMillis),
            Integer.toString(instructSteps))
        .directory(runDir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(runDir.resolve("child.log").toFile())
        .start();
  }

  /**
   * Polls the child's saved progress until it is inside instruction tuning a few steps in; returns
   * that step. Fails if the child ends first.
   */
  private static long waitForInstructionTuning(Process child, Path runDir) throws Exception {
    Path progress = runDir.resolve("state/progress.json");
    Path childLog = runDir.resolve("child.log");
    ObjectMapper json = new ObjectMapper();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (System.nanoTime() < deadline) {
      if (!child.isAlive()) {
        fail(
            "the child ended (" + child.exitValue() + ") before it was killed:\n" + read(childLog));
      }
      try {
        JsonNode p = json.readTree(progress.toFile());
        if (p.get("stage").asText().equals("INSTRUCT") && p.get("step").asLong() >= 3) {
          child.destroyForcibly();
          return p.get("step").asLong();
        }
      } catch (IOException | NullPointerException absentOrBeingReplaced) {
        // not written yet, or moved away between the check and the read
      }
      Thread.sleep(2);
    }
    fail("the child never reached instruction tuning:\n" + read(childLog));
    return -1;
  }

  private static String read(Path file) throws IOException {
    return Files.exists(file) ? Files.readString(file) : "(no output)";
  }
}
