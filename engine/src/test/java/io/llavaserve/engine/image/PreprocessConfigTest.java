package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreprocessConfigTest {

  @TempDir Path dir;

  private Path write(String json) throws IOException {
    return Files.writeString(dir.resolve("preprocessor_config.json"), json);
  }

  @Test
  void clipDefaultsPadWithLlavaMeanColour() {
    PreprocessConfig c = PreprocessConfig.clipDefaults(336);

    assertArrayEquals(new int[] {122, 116, 104}, c.padColour());
    assertTrue(c.padToSquare());
    assertEquals(PreprocessConfig.Size.shortestEdge(336), c.size());
    assertEquals(336, c.cropHeight());
    assertEquals(1.0 / 255, c.rescaleFactor());
  }

  @Test
  void missingFileGivesDefaults() {
    assertEquals(
        PreprocessConfig.clipDefaults(224), PreprocessConfig.load(dir.resolve("none.json"), 224));
  }

  @Test
  void readsLlavaHfForm() throws IOException {
    Path p =
        write(
            """
            {"crop_size": {"height": 336, "width": 336}, "do_center_crop": true,
             "do_convert_rgb": true, "do_normalize": true, "do_rescale": true, "do_resize": true,
             "image_mean": [0.5, 0.25, 0.125], "image_std": [0.2, 0.3, 0.4],
             "image_processor_type": "CLIPImageProcessor", "resample": 3,
             "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}}
            """);

    PreprocessConfig c = PreprocessConfig.load(p, 336);

    assertArrayEquals(new double[] {0.5, 0.25, 0.125}, c.imageMean());
    assertArrayEquals(new double[] {0.2, 0.3, 0.4}, c.imageStd());
    assertEquals(0.00392156862745098, c.rescaleFactor());
    assertTrue(c.padToSquare());
    assertArrayEquals(new int[] {127, 63, 31}, c.padColour());
  }

  @Test
  void readsOpenAiClipFormAndSwitches() throws IOException {
    Path p =
        write(
            """
            {"crop_size": 336, "size": 336, "do_center_crop": false, "do_normalize": false,
             "do_resize": true, "feature_extractor_type": "CLIPFeatureExtractor"}
            """);

    PreprocessConfig c = PreprocessConfig.load(p, 336).withPadToSquare(false);

    assertEquals(PreprocessConfig.Size.shortestEdge(336), c.size());
    assertFalse(c.doCenterCrop());
    assertFalse(c.doNormalize());
    assertTrue(c.doRescale());
    assertFalse(c.padToSquare());
    assertArrayEquals(PreprocessConfig.CLIP_MEAN, c.imageMean());
  }

  @Test
  void llavaImageProcessorPadsOnlyWhenItsDoPadSaysSo() throws IOException {
    String llava =
        """
        {"crop_size": {"height": 336, "width": 336}, "size": {"shortest_edge": 336},
         "image_processor_type": "LlavaImageProcessor", "resample": 3%s}
        """;

    PreprocessConfig absent = PreprocessConfig.load(write(llava.formatted("")), 336);
    PreprocessConfig off =
        PreprocessConfig.load(write(llava.formatted(", \"do_pad\": false")), 336);
    PreprocessConfig on = PreprocessConfig.load(write(llava.formatted(", \"do_pad\": true")), 336);

    assertFalse(absent.padToSquare(), "transformers' LlavaImageProcessor: do_pad false by default");
    assertFalse(off.padToSquare());
    assertTrue(on.padToSquare());
    assertEquals(PreprocessConfig.clipDefaults(336), on, "otherwise CLIPImageProcessor's steps");
    assertEquals(PreprocessConfig.clipDefaults(336).withPadToSquare(false), off);
  }

  @Test
  void refusesWhatItCannotDo() throws IOException {
    IllegalArgumentException resample =
        assertThrows(
            IllegalArgumentException.class,
            () -> PreprocessConfig.load(write("{\"resample\": 2}"), 336));
    IllegalArgumentException crop =
        assertThrows(
            IllegalArgumentException.class,
            () -> PreprocessConfig.load(write("{\"crop_size\": 224}"), 336));
    IllegalArgumentException mean =
        assertThrows(
            IllegalArgumentException.class,
            () -> PreprocessConfig.load(write("{\"image_mean\": [0.5]}"), 336));

    assertTrue(resample.getMessage().contains("resample 2"), resample.getMessage());
    assertTrue(crop.getMessage().contains("crop_size 224 x 224"), crop.getMessage());
    assertTrue(mean.getMessage().contains("image_mean"), mean.getMessage());
  }

  @Test
  void readsLlavaInterleaveSiglipProcessor() throws IOException {
    Path p =
        Files.write(
            dir.resolve("preprocessor_config.json"),
            Fixtures.bytes("llava-interleave-qwen-0.5b-hf-preprocessor_config.json"));

    PreprocessConfig c = PreprocessConfig.load(p, 384);

    assertEquals(PreprocessConfig.Size.exact(384, 384), c.size());
    assertFalse(c.size().keepsAspectRatio());
    assertFalse(c.doCenterCrop(), "SiglipImageProcessor has no crop");
    assertFalse(c.padToSquare(), "nor LLaVA-1.5's padding");
    assertArrayEquals(new double[] {0.5, 0.5, 0.5}, c.imageMean());
    assertArrayEquals(new double[] {0.5, 0.5, 0.5}, c.imageStd());
    assertEquals(PreprocessConfig.siglipDefaults(384), c);
  }

  @Test
  void siglipProcessorTakesItsOwnDefaultsAndIgnoresCropKeys() throws IOException {
    PreprocessConfig c =
        PreprocessConfig.load(
            write(
                """
                {"image_processor_type": "SiglipImageProcessor", "do_center_crop": true,
                 "crop_size": {"height": 7, "width": 7}}
                """),
            224);

    assertEquals(PreprocessConfig.siglipDefaults(224), c);
  }

  @Test
  void siglipProcessorRefusesSizesItCannotServe() throws IOException {
    IllegalArgumentException edge =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                PreprocessConfig.load(
                    write(
                        "{\"image_processor_type\": \"SiglipImageProcessor\","
                            + " \"size\": {\"shortest_edge\": 384}}"),
                    384));
    IllegalArgumentException other =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                PreprocessConfig.load(
                    write(
                        "{\"image_processor_type\": \"SiglipImageProcessor\","
                            + " \"size\": {\"height\": 224, \"width\": 224}}"),
                    384));

    assertTrue(edge.getMessage().contains("size"), edge.getMessage());
    assertTrue(edge.getMessage().contains("shortest_edge"), edge.getMessage());
    assertTrue(other.getMessage().contains("size 224 x 224"), other.getMessage());
    assertTrue(other.getMessage().contains("384"), other.getMessage());
  }

  @Test
  void clipProcessorMayResizeToAnExactSize() throws IOException {
    PreprocessConfig c =
        PreprocessConfig.load(
            write("{\"size\": {\"height\": 336, \"width\": 336}, \"do_center_crop\": false}"), 336);

    assertEquals(PreprocessConfig.Size.exact(336, 336), c.size());
    assertTrue(c.padToSquare());
  }

  @Test
  void arraysAreDefensivelyCopied() {
    double[] mean = {0.1, 0.2, 0.3};
    PreprocessConfig c =
        new PreprocessConfig(
            PreprocessConfig.Size.shortestEdge(4),
            4,
            4,
            mean,
            PreprocessConfig.CLIP_STD,
            1,
            true,
            true,
            true,
            true,
            true);

    mean[0] = 9;
    c.imageMean()[1] = 9;

    assertArrayEquals(new double[] {0.1, 0.2, 0.3}, c.imageMean());
  }
}
