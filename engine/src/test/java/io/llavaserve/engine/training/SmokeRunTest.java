package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.training.world.SizeRange;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CI smoke recipe with the command line's default seed, run whole from nothing: every stage's
 * smoothed loss, as the progress line reports it, ends below where it started (well below for the
 * language-model stages), and the run ends with a final checkpoint.
 *
 * <p>In so few steps the CLIP stage only relaxes its temperature towards chance (its accuracy stays
 * at 1/16) and alignment lowers its loss by well under one percent, so for those two the test asks
 * only that the loss falls at all.
 */
class SmokeRunTest {

  /** "instruct [####----] 40/40 loss 3.2214 lr ..." */
  private static final Pattern PROGRESS =
      Pattern.compile("^(\\w+)\\s+\\[[#-]+\\] (\\d+)/(\\d+) loss (\\d+\\.\\d+)");

  @TempDir Path runDir;

  /** The share of its first loss each stage must end under. */
  private static final Map<Stage, Double> RATIO =
      Map.of(Stage.CLIP, 1.0, Stage.TEXT, 0.8, Stage.ALIGN, 1.0, Stage.INSTRUCT, 0.8);

  @Test
  void everyStageOfTheSmokePlanEndsWithALowerLoss() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Trainer.Options options =
        new Trainer.Options(
            runDir,
            TrainingSpec.smoke(),
            TrainingSpec.smokePlan(),
            20261203,
            SizeRange.square(64),
            Duration.ofHours(1),
            2,
            0.01,
            1.0);
    Path last;
    try (PrintStream log = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      last = new Trainer(options, log).run();
    }
    String log = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(Files.isRegularFile(last.resolve("config.json")), "a final checkpoint:\n" + log);

    // Per stage, the (step, smoothed loss) lines in order; a terminal redraws them with \r.
    Map<String, List<double[]>> lines = new LinkedHashMap<>();
    for (String line : log.split("[\r\n]+")) {
      Matcher m = PROGRESS.matcher(line);
      if (m.find()) {
        lines
            .computeIfAbsent(m.group(1), k -> new ArrayList<>())
            .add(new double[] {Long.parseLong(m.group(2)), Double.parseDouble(m.group(4))});
      }
    }
    for (StagePlan plan : TrainingSpec.smokePlan()) {
      String name = plan.stage().name().toLowerCase();
      List<double[]> progress = lines.get(name);
      assertTrue(progress != null && progress.size() >= 2, name + " progress lines:\n" + log);
      double[] first = progress.get(0);
      double[] end = progress.get(progress.size() - 1);
      assertEquals(1, (long) first[0], name + " reports its first step");
      assertEquals(plan.steps(), (long) end[0], name + " reports its last step");
      assertTrue(
          end[1] < RATIO.get(plan.stage()) * first[1],
          name + ": smoothed loss " + first[1] + " at step 1, " + end[1] + " at the end");
    }
  }
}
