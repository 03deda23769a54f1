package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.LlavaConfig;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench vision}: the real-sized tower shapes it measures, the work it counts per image, and
 * a run on the tiny model's tower (the real-sized ones take minutes, so CI does not write them).
 */
class BenchVisionCommandTest {

  @TempDir Path dir;

  @Test
  void theTowersHaveTheirModelsShapes() {
    LlavaConfig clip = TinySpec.clipLargeTower().toConfig();
    assertEquals(1024, clip.vision().hiddenSize());
    assertEquals(577, clip.vision().sequenceLength()); // 24 x 24 patches and the class token
    assertEquals(23, clip.visionLayersUsed()); // feature layer -2
    assertEquals(576, clip.imageSeqLength());
    LlavaConfig siglip = TinySpec.siglipTower().toConfig();
    assertEquals(1152, siglip.vision().hiddenSize());
    assertEquals(729, siglip.vision().sequenceLength()); // 27 x 27, no class token
    assertEquals(4304, siglip.vision().intermediateSize());
  }

  @Test
  void clipLargeAt336TakesAbout366GflopAnImage() {
    // Counted by hand: 23 layers of 577 tokens, q/k/v/o (4 x 1024^2) and the MLP (2 x 1024 x
    // 4096) per token, attention 2 x 577^2 x 1024, the 14 x 14 x 3 patch embedding for 576
    // patches, and the projector (1024 x 256 + 256 x 256 over 576 tokens); two FLOPs a
    // multiply-add.
    double layer = 577.0 * (4 * 1024.0 * 1024 + 2 * 1024.0 * 4096) + 2 * 577.0 * 577 * 1024;
    double expected = 2 * (23 * layer + 576 * 588.0 * 1024 + 576 * (1024.0 * 256 + 256.0 * 256));
    double counted = BenchVisionCommand.flopsPerImage(TinySpec.clipLargeTower().toConfig());
    assertEquals(expected, counted, expected * 1e-12);
    assertEquals(366.4, counted / 1e9, 0.1);
  }

  @Test
  void aModelsTowerIsTimedForEachBatchSize() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    Cli.Run run =
        Cli.run("bench", "vision", "--model", dir.toString(), "--images", "1,3", "--repeats", "1");
    assertEquals(0, run.exit(), run.err() + run.out());
    Matcher rows =
        Pattern.compile("(?m)^\\S+\\s+\\d+\\s+\\d+\\s+([13])\\s+([0-9.]+)\\s").matcher(run.out());
    int found = 0;
    while (rows.find()) {
      assertTrue(Double.parseDouble(rows.group(2)) > 0, run.out());
      found++;
    }
    assertEquals(2, found, run.out());
    assertTrue(run.out().contains("probe: TensorFlow float32 matmul"), run.out());
  }
}
