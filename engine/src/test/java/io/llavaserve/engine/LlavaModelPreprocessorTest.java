package io.llavaserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.image.PreprocessConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which image processor a checkpoint gets: llava_next needs LlavaNextImageProcessor and
 * llava_onevision LlavaOnevisionImageProcessor at the model's own pinpoints (the processor's pick
 * the tiles, the model's the grid their features fill), a llava_onevision processor_config.json
 * must count as the model packs, and tiles never feed a llava model.
 */
class LlavaModelPreprocessorTest {

  @TempDir Path dir;

  @Test
  void aLlavaNextCheckpointGetsLlavaNextImageProcessorAtItsPinpoints() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.next());
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      PreprocessConfig written = LlavaModel.preprocessConfig(ckpt);
      assertEquals(
          PreprocessConfig.llavaNextDefaults(56, AnyResolution.llavaV16Pinpoints(56)), written);
      Files.delete(dir.resolve(Checkpoint.PREPROCESSOR_CONFIG));
      assertEquals(written, LlavaModel.preprocessConfig(ckpt), "absent: the same defaults");
    }
  }

  @Test
  void aProcessorThatDoesNotTileOrTilesElsewhereIsRefusedNamingTheFile() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.next());
    Path pre = dir.resolve(Checkpoint.PREPROCESSOR_CONFIG);
    String next = Files.readString(pre);
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      Files.writeString(pre, next.replace("LlavaNextImageProcessor", "CLIPImageProcessor"));
      CheckpointException e =
          assertThrows(CheckpointException.class, () -> LlavaModel.preprocessConfig(ckpt));
      assertTrue(
          e.getMessage().contains(Checkpoint.PREPROCESSOR_CONFIG)
              && e.getMessage().contains("LlavaNextImageProcessor"),
          e.getMessage());

      Files.writeString(pre, next.replace("[ 56, 168 ]", "[ 56, 224 ]"));
      e = assertThrows(CheckpointException.class, () -> LlavaModel.preprocessConfig(ckpt));
      assertTrue(e.getMessage().contains("image_grid_pinpoints"), e.getMessage());
    }
    Path llava = dir.resolve("llava");
    TinyCheckpoint.write(llava, TinySpec.tiny());
    Files.writeString(llava.resolve(Checkpoint.PREPROCESSOR_CONFIG), next);
    try (Checkpoint ckpt = Checkpoint.open(llava)) {
      CheckpointException e =
          assertThrows(CheckpointException.class, () -> LlavaModel.preprocessConfig(ckpt));
      assertTrue(e.getMessage().contains("model_type is llava"), e.getMessage());
    }
  }

  @Test
  void aLlavaOnevisionCheckpointGetsLlavaOnevisionImageProcessorAtItsPinpoints() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.onevision());
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      PreprocessConfig written = LlavaModel.preprocessConfig(ckpt);
      assertEquals(
          PreprocessConfig.onevisionDefaults(60, AnyResolution.onevisionPinpoints(60)), written);
      assertTrue(written.tilesLoneImagesOnly());
      Files.delete(dir.resolve(Checkpoint.PREPROCESSOR_CONFIG));
      assertEquals(written, LlavaModel.preprocessConfig(ckpt), "absent: the same defaults");
    }
  }

  @Test
  void aLlavaOnevisionCheckpointRefusesAnotherProcessorOrAProcessorConfigThatCountsOtherwise()
      throws Exception {
    TinyCheckpoint.write(dir, TinySpec.onevision());
    Path pre = dir.resolve(Checkpoint.PREPROCESSOR_CONFIG);
    Path processor = dir.resolve(Checkpoint.PROCESSOR_CONFIG);
    String onevision = Files.readString(pre);
    String counts = Files.readString(processor);
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      Files.writeString(
          pre, onevision.replace("LlavaOnevisionImageProcessor", "LlavaNextImageProcessor"));
      CheckpointException e =
          assertThrows(CheckpointException.class, () -> LlavaModel.preprocessConfig(ckpt));
      assertTrue(e.getMessage().contains("LlavaOnevisionImageProcessor"), e.getMessage());
      Files.writeString(pre, onevision);

      Files.writeString(processor, counts.replace("anyres_max_9", "anyres_max_4"));
      e = assertThrows(CheckpointException.class, () -> LlavaModel.preprocessConfig(ckpt));
      assertTrue(
          e.getMessage().contains(Checkpoint.PROCESSOR_CONFIG)
              && e.getMessage().contains("vision_aspect_ratio"),
          e.getMessage());
      Files.writeString(processor, counts.replace("16", "729"));
      e = assertThrows(CheckpointException.class, () -> LlavaModel.preprocessConfig(ckpt));
      assertTrue(e.getMessage().contains("num_image_tokens"), e.getMessage());
    }
  }
}
