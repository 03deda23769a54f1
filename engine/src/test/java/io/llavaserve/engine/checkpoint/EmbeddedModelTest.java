package io.llavaserve.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.image.PreprocessConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model in the jar unpacks into a folder transformers can run as llava-hf's. */
class EmbeddedModelTest {

  @TempDir Path cache;

  @Test
  void unpacksEveryFileTransformersNeedsWithAProcessorConfigThatCountsAsTheModelPacks()
      throws Exception {
    Path dir = EmbeddedModel.ensure(cache);

    for (String name :
        List.of(
            Checkpoint.CONFIG,
            SafetensorsWriter.SINGLE_FILE,
            Checkpoint.PREPROCESSOR_CONFIG,
            Checkpoint.PROCESSOR_CONFIG,
            Checkpoint.CHAT_TEMPLATE,
            "tokenizer.json",
            "tokenizer_config.json")) {
      assertTrue(Files.isRegularFile(dir.resolve(name)), name);
    }
    LlavaConfig config = LlavaConfigParser.parse(dir.resolve(Checkpoint.CONFIG));
    JsonNode p = new ObjectMapper().readTree(dir.resolve(Checkpoint.PROCESSOR_CONFIG).toFile());
    // LlavaNextProcessor counts a tile as (side / patch_size)^2 + num_additional_image_tokens, less
    // one for "default".
    int perSide = config.vision().imageSize() / p.get("patch_size").asInt();
    int tokens =
        perSide * perSide
            + p.get("num_additional_image_tokens").asInt()
            - (p.get("vision_feature_select_strategy").asText().equals("default") ? 1 : 0);
    assertEquals("LlavaNextProcessor", p.get("processor_class").asText());
    assertEquals(
        config.visionFeatureSelectStrategy(), p.get("vision_feature_select_strategy").asText());
    assertEquals(config.imageSeqLength(), tokens);
  }

  /**
   * The model is a llava_next: its preprocessor config names LlavaNextImageProcessor with the
   * config's pinpoints, so transformers tiles an image as the server does and counts the positions
   * the model packs.
   */
  @Test
  void itsPreprocessorConfigTilesAtTheConfigsPinpointsAsTheServerDoes() throws Exception {
    Path dir = EmbeddedModel.ensure(cache);
    Path file = dir.resolve(Checkpoint.PREPROCESSOR_CONFIG);
    JsonNode pre = new ObjectMapper().readTree(file.toFile());
    LlavaConfig config = LlavaConfigParser.parse(dir.resolve(Checkpoint.CONFIG));
    int side = config.vision().imageSize();

    assertEquals("llava_next", config.modelType());
    assertEquals("LlavaNextImageProcessor", pre.get("image_processor_type").asText());
    assertEquals(
        PreprocessConfig.llavaNextDefaults(side, config.anyResolution().pinpoints()),
        PreprocessConfig.load(file, side));
  }
}
