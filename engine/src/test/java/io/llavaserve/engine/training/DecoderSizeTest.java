package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.training.world.SizeRange;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code train --decoder WIDTHxLAYERS}: the spec it gives, and a resume with another size. */
class DecoderSizeTest {

  @Test
  void theStandardWidthGivesTheStandardDecoder() {
    TinySpec standard = TrainingSpec.standard().model();

    assertEquals(standard, TrainingSpec.standard().withDecoder(256, 4).model());
  }

  @Test
  void aWiderDeeperDecoderHasHeadsOf64AndASwiGluOf11Quarters() {
    TextConfig text = TrainingSpec.standard().withDecoder(384, 6).config().text();

    assertEquals(384, text.hiddenSize());
    assertEquals(6, text.numHiddenLayers());
    assertEquals(6, text.numAttentionHeads());
    assertEquals(6, text.numKeyValueHeads());
    assertEquals(1056, text.intermediateSize());
    assertEquals(64, text.headDim());
  }

  @Test
  void sizesThatAreNotWholeHeadsAreRefused() {
    for (int[] bad : new int[][] {{100, 4}, {0, 4}, {384, 0}}) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> TrainingSpec.standard().withDecoder(bad[0], bad[1]));
      assertTrue(e.getMessage().contains(bad[0] + " x " + bad[1]), e.getMessage());
    }
  }

  @Test
  void aRunResumesOnlyWithTheSizeItStartedWith(@TempDir Path runDir) throws Exception {
    List<StagePlan> plan = List.of(new StagePlan(Stage.TEXT, 2, 2, 1e-3, 1));
    new Trainer(options(runDir, TrainingSpec.smoke(), plan), quiet()).run();

    List<StagePlan> longer = List.of(new StagePlan(Stage.TEXT, 3, 2, 1e-3, 1));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new Trainer(
                        options(runDir, TrainingSpec.smoke().withDecoder(64, 2), longer), quiet())
                    .run());
    assertTrue(e.getMessage().contains("another model size"), e.getMessage());
    assertTrue(e.getMessage().contains("--decoder"), e.getMessage());
  }

  private static Trainer.Options options(Path dir, TrainingSpec spec, List<StagePlan> plan) {
    return new Trainer.Options(
        dir, spec, plan, 7, SizeRange.square(64), Duration.ofHours(1), 1, 0.01, 1.0);
  }

  private static PrintStream quiet() {
    return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
  }
}
