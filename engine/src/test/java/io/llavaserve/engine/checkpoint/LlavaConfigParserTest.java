package io.llavaserve.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.TextFamily;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlavaConfigParserTest {

  @TempDir Path dir;

  private Path resource(String name) throws Exception {
    Path file = dir.resolve(name);
    try (InputStream in = getClass().getResourceAsStream(name)) {
      Files.copy(in, file);
    }
    return file;
  }

  private Path json(String text) throws Exception {
    Path file = dir.resolve("config.json");
    Files.writeString(file, text);
    return file;
  }

  private CheckpointException failure(String text) throws Exception {
    Path file = json(text);
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> LlavaConfigParser.parse(file));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    return e;
  }

  @Test
  void llava15HfConfigGetsLlamaDefaults() throws Exception {
    LlavaConfig c = LlavaConfigParser.parse(resource("llava-1.5-7b-hf-config.json"));
    TextConfig t = c.text();
    assertEquals(4096, t.hiddenSize());
    assertEquals(11008, t.intermediateSize());
    assertEquals(32, t.numHiddenLayers());
    assertEquals(32, t.numAttentionHeads());
    assertEquals(32, t.numKeyValueHeads());
    assertEquals(128, t.headDim());
    assertEquals(32064, t.vocabSize());
    assertEquals(1e-5, t.rmsNormEps());
    assertEquals(10000.0, t.ropeTheta());
    assertEquals(4096, t.maxPositionEmbeddings());
    assertEquals("silu", t.hiddenAct());
    assertFalse(t.tieWordEmbeddings());
    VisionConfig v = c.vision();
    assertEquals(new VisionConfig(1024, 4096, 24, 16, 336, 14, 3, 1e-5, "quick_gelu"), v);
    assertEquals(ProjectorKind.MLP2X_GELU, c.projector());
    assertEquals("gelu", c.projectorHiddenAct());
    assertEquals(32000, c.imageTokenIndex());
    assertEquals(32001, c.padTokenId());
    assertEquals(-2, c.visionFeatureLayer());
    assertEquals(23, c.visionLayersUsed());
    assertEquals("default", c.visionFeatureSelectStrategy());
    assertEquals(576, c.imageSeqLength());
  }

  @Test
  void originalLlavaConfigReadsFlatFieldsAndNamesTheTower() throws Exception {
    LlavaConfigParser.Parsed p =
        LlavaConfigParser.read(resource("llava-v1.5-7b-original-config.json"));
    LlavaConfig c = p.config();
    assertTrue(p.projectorDeclared());
    assertEquals(ProjectorKind.MLP2X_GELU, c.projector());
    assertEquals(LlavaConfigParser.CLIP_VIT_L_14_336, c.vision());
    assertEquals(4096, c.text().hiddenSize());
    assertEquals(32000, c.text().vocabSize());
    assertEquals(-2, c.visionFeatureLayer());
    assertEquals("default", c.visionFeatureSelectStrategy());
    assertEquals(576, c.imageSeqLength());
    assertEquals(0, c.padTokenId());
  }

  @Test
  void originalLlava10IsLinearWith224PixelTowerAndClsPatch() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json(
                """
                {"model_type": "llava_llama", "hidden_size": 5120, "num_attention_heads": 40,
                 "num_hidden_layers": 40, "intermediate_size": 13824,
                 "mm_vision_tower": "openai/clip-vit-large-patch14", "mm_projector_type": "linear",
                 "mm_vision_select_feature": "cls_patch", "mm_vision_select_layer": -1}
                """));
    assertEquals(ProjectorKind.LINEAR, c.projector());
    assertEquals(224, c.vision().imageSize());
    assertEquals(257, c.imageSeqLength());
    assertEquals("full", c.visionFeatureSelectStrategy());
    assertEquals(5120, c.text().hiddenSize());
    assertEquals(1e-6, c.text().rmsNormEps());
  }

  @Test
  void missingVisionConfigIsClipVitL14At336() throws Exception {
    LlavaConfig c = LlavaConfigParser.parse(json("{\"model_type\": \"llava\"}"));
    assertEquals(LlavaConfigParser.CLIP_VIT_L_14_336, c.vision());
    assertEquals(
        new TextConfig(4096, 11008, 32, 32, 32, 128, 32000, 1e-6, 10000, 2048, "silu", false),
        c.text());
    assertEquals(576, c.imageSeqLength());
    assertEquals(-1, c.padTokenId());
  }

  @Test
  void givenVisionConfigTakesClipVisionConfigDefaults() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json("{\"model_type\": \"llava\", \"vision_config\": {}, \"image_token_id\": 7}"));
    assertEquals(new VisionConfig(768, 3072, 12, 12, 224, 32, 3, 1e-5, "quick_gelu"), c.vision());
    assertEquals(49, c.imageSeqLength());
    assertEquals(7, c.imageTokenIndex());
  }

  @Test
  void nullKvHeadsMeansOnePerQueryHeadAndHeadDimCanBeGiven() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json(
                """
                {"model_type": "llava", "text_config": {"num_attention_heads": 8,
                 "num_key_value_heads": null, "hidden_size": 512, "head_dim": 32},
                 "tie_word_embeddings": true}
                """));
    assertEquals(8, c.text().numKeyValueHeads());
    assertEquals(32, c.text().headDim());
    assertTrue(c.text().tieWordEmbeddings(), "top-level tie_word_embeddings applies");
  }

  @Test
  void textConfigTieWinsOverTopLevel() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json(
                "{\"text_config\": {\"tie_word_embeddings\": false}, \"tie_word_embeddings\":"
                    + " true}"));
    assertFalse(c.text().tieWordEmbeddings());
  }

  @Test
  void projectorTypeLinearIsDeclared() throws Exception {
    LlavaConfigParser.Parsed p =
        LlavaConfigParser.read(json("{\"model_type\": \"llava\", \"projector_type\": \"linear\"}"));
    assertEquals(ProjectorKind.LINEAR, p.config().projector());
    assertTrue(p.projectorDeclared());
    assertFalse(LlavaConfigParser.read(json("{}")).projectorDeclared());
  }

  @Test
  void multimodalProjectorBiasDefaultsToTrueAndFalseDropsTheBiases() throws Exception {
    assertTrue(LlavaConfigParser.read(json("{}")).config().projectorBias());
    LlavaConfig c = LlavaConfigParser.read(json("{\"multimodal_projector_bias\": false}")).config();
    assertFalse(c.projectorBias());
    assertFalse(WeightShapes.all(c).containsKey("multi_modal_projector.linear_1.bias"));
    assertFalse(WeightShapes.all(c).containsKey("multi_modal_projector.linear_2.bias"));
    assertTrue(WeightShapes.all(c).containsKey("multi_modal_projector.linear_2.weight"));
    CheckpointException e = failure("{\"multimodal_projector_bias\": \"no\"}");
    assertTrue(e.getMessage().contains("multimodal_projector_bias"), e.getMessage());
  }

  @Test
  void ropeScalingFailsNamingTheField() throws Exception {
    CheckpointException e =
        failure("{\"text_config\": {\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}}");
    assertTrue(e.getMessage().contains("text_config.rope_scaling"), e.getMessage());
  }

  @Test
  void unknownTextModelFailsNamingTheField() throws Exception {
    CheckpointException e = failure("{\"text_config\": {\"model_type\": \"gemma\"}}");
    assertTrue(e.getMessage().contains("text_config.model_type"), e.getMessage());
    assertTrue(e.getMessage().contains("gemma"), e.getMessage());
    e = failure("{\"text_config\": {\"mlp_bias\": true}}");
    assertTrue(e.getMessage().contains("text_config.mlp_bias"), e.getMessage());
  }

  @Test
  void qwen2TextConfigAsLlavaInterleaveWritesIt() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json(
                """
                {"model_type": "llava", "image_token_index": 151646,
                 "text_config": {"model_type": "qwen2", "hidden_size": 896,
                  "intermediate_size": 4864, "num_attention_heads": 14, "num_hidden_layers": 24,
                  "num_key_value_heads": 2, "rope_theta": 1000000.0, "tie_word_embeddings": true,
                  "vocab_size": 152000, "use_sliding_window": false, "sliding_window": 32768,
                  "max_window_layers": 21}}
                """));
    TextConfig t = c.text();
    assertEquals(TextFamily.QWEN2, t.family());
    assertTrue(t.qkvBias(), "Qwen2 has q, k and v biases");
    assertFalse(t.outputBias());
    assertEquals(0, t.slidingWindow(), "use_sliding_window false: no window");
    assertEquals(32768, t.maxContext(), "Qwen2Config's max_position_embeddings");
    assertEquals(64, t.headDim());
    assertEquals(1e6, t.ropeTheta());
    assertEquals(1e-6, t.rmsNormEps());
    assertTrue(t.tieWordEmbeddings());
    assertEquals(
        151936,
        LlavaConfigParser.parse(json("{\"text_config\": {\"model_type\": \"qwen2\"}}"))
            .text()
            .vocabSize());
  }

  @Test
  void qwen2WithSlidingLayersAndMistralWindowsLimitTheContext() throws Exception {
    TextConfig sliding =
        LlavaConfigParser.parse(
                json(
                    "{\"text_config\": {\"model_type\": \"qwen2\", \"num_hidden_layers\": 4,"
                        + " \"use_sliding_window\": true, \"sliding_window\": 512,"
                        + " \"max_window_layers\": 2}}"))
            .text();
    assertEquals(512, sliding.maxContext());
    TextConfig mistral =
        LlavaConfigParser.parse(json("{\"text_config\": {\"model_type\": \"mistral\"}}")).text();
    assertEquals(TextFamily.MISTRAL, mistral.family());
    assertEquals(8, mistral.numKeyValueHeads(), "MistralConfig's default");
    assertEquals(14336, mistral.intermediateSize());
    assertEquals(4096, mistral.slidingWindow(), "MistralConfig's default window");
    assertEquals(4096, mistral.maxContext());
    assertFalse(mistral.qkvBias());
    TextConfig noWindow =
        LlavaConfigParser.parse(
                json(
                    "{\"text_config\": {\"model_type\": \"mistral\", \"sliding_window\": null,"
                        + " \"max_position_embeddings\": 32768}}"))
            .text();
    assertEquals(32768, noWindow.maxContext(), "Mistral 0.2 and later: no window");
    TextConfig biased =
        LlavaConfigParser.parse(json("{\"text_config\": {\"attention_bias\": true}}")).text();
    assertTrue(biased.qkvBias() && biased.outputBias(), "LLaMA attention_bias: q, k, v and o");
  }

  @Test
  void otherFailuresNameTheField() throws Exception {
    assertTrue(failure("{\"image_seq_length\": 577}").getMessage().contains("image_seq_length"));
    assertTrue(
        failure("{\"model_type\": \"llava_onevision2\"}").getMessage().contains("model_type"));
    assertTrue(
        failure("{\"text_config\": {\"hidden_size\": \"big\"}}")
            .getMessage()
            .contains("text_config.hidden_size"));
    assertTrue(
        failure("{\"vision_feature_layer\": [-2, -5]}")
            .getMessage()
            .contains("vision_feature_layer"));
    assertTrue(
        failure("{\"mm_projector_type\": \"mlp3x_gelu\"}")
            .getMessage()
            .contains("mm_projector_type"));
    assertTrue(
        failure("{\"hidden_size\": 4096, \"mm_hidden_size\": 768}")
            .getMessage()
            .contains("mm_hidden_size"));
    assertTrue(failure("[1, 2]").getMessage().contains("not a JSON object"));
  }

  @Test
  void llavaV16MistralConfigTilesAtItsPinpoints() throws Exception {
    LlavaConfig c = LlavaConfigParser.parse(resource("llava-v1.6-mistral-7b-hf-config.json"));
    assertEquals("llava_next", c.modelType());
    assertEquals(LlavaConfigParser.CLIP_VIT_L_14_336, c.vision());
    assertEquals(TextFamily.MISTRAL, c.text().family());
    assertEquals(32768, c.text().maxContext(), "sliding_window null: no window");
    assertEquals(576, c.imageSeqLength(), "features per tile");
    assertEquals(new AnyResolution(AnyResolution.LLAVA_V1_6_PINPOINTS, 336, 24), c.anyResolution());
    assertEquals(2340, c.imagePositions(480, 640));
    assertEquals(1176, c.imagePositions(1, 1));
  }

  @Test
  void llavaNextTakesLlavaNextConfigsDefaultsAndRefusesWhatItCannotTile() throws Exception {
    LlavaConfig c = LlavaConfigParser.parse(json("{\"model_type\": \"llava_next\"}"));
    assertEquals(AnyResolution.LLAVA_V1_6_PINPOINTS, c.anyResolution().pinpoints());
    assertEquals(-2, c.visionFeatureLayer());
    assertEquals("default", c.visionFeatureSelectStrategy());
    LlavaConfig own =
        LlavaConfigParser.parse(
            json(
                "{\"model_type\": \"llava_next\", \"image_grid_pinpoints\": [[336, 336], [336,"
                    + " 1344]]}"));
    assertEquals(
        List.of(new AnyResolution.Resolution(336, 336), new AnyResolution.Resolution(336, 1344)),
        own.anyResolution().pinpoints());
    assertTrue(
        failure("{\"model_type\": \"llava_next\", \"image_grid_pinpoints\": [[336, 600]]}")
            .getMessage()
            .contains("image_grid_pinpoints"));
    assertTrue(
        failure("{\"model_type\": \"llava_next\", \"image_grid_pinpoints\": [336, 672]}")
            .getMessage()
            .contains("image_grid_pinpoints"));
    // "full" on CLIP keeps the class token: 577 features, no square map to re-assemble.
    assertTrue(
        failure(
                "{\"model_type\": \"llava_next\", \"vision_feature_select_strategy\": \"full\","
                    + " \"image_seq_length\": 577}")
            .getMessage()
            .contains("vision_feature_select_strategy"));
    assertTrue(
        failure("{\"model_type\": \"llava_llama\", \"image_aspect_ratio\": \"anyres\"}")
            .getMessage()
            .contains("image_aspect_ratio"));
  }

  /**
   * The config as transformers' convert_llava_onevision_weights_to_hf saves it for
   * llava-hf/llava-onevision-qwen2-0.5b-ov-hf: LlavaOnevisionConfig's fields, Qwen2-0.5B-Instruct's
   * text config (vocabulary padded to 152000), so400m's tower without its last layer.
   */
  @Test
  void llavaOnevisionQwen2Config() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(resource("llava-onevision-qwen2-0.5b-ov-hf-config.json"));
    assertEquals("llava_onevision", c.modelType());
    assertTrue(c.isOneVision());
    assertEquals(VisionFamily.SIGLIP, c.vision().family());
    assertEquals(384, c.vision().imageSize());
    assertEquals(27, c.vision().patchesPerSide());
    assertEquals(26, c.vision().numHiddenLayers());
    assertEquals(TextFamily.QWEN2, c.text().family());
    assertEquals(896, c.text().hiddenSize());
    assertEquals(152000, c.text().vocabSize());
    assertTrue(c.text().tieWordEmbeddings(), "text_config's tie_word_embeddings wins");
    assertEquals(151646, c.imageTokenIndex());
    assertEquals(-1, c.visionFeatureLayer());
    assertEquals("full", c.visionFeatureSelectStrategy());
    assertEquals(729, c.imageSeqLength());
    assertEquals(
        AnyResolution.onevision(AnyResolution.ONEVISION_PINPOINTS, 384, 27, 9), c.anyResolution());
    assertEquals(36, c.anyResolution().pinpoints().size());
    assertEquals(2929, c.imagePositions(480, 640));
    assertEquals(7371, c.imagePositions(4000, 4000));
    assertEquals(730, c.imagePositions(1, 4000, 4000));
  }

  @Test
  void llavaOnevisionTakesLlavaOnevisionConfigsDefaults() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json(
                "{\"model_type\": \"llava_onevision\", \"vision_config\": {\"image_size\": 384,"
                    + " \"patch_size\": 14}, \"text_config\": {\"hidden_size\": 64,"
                    + " \"num_attention_heads\": 4}}"));
    assertEquals(VisionFamily.SIGLIP, c.vision().family(), "vision_config's model_type default");
    assertEquals(TextFamily.QWEN2, c.text().family(), "text_config's model_type default");
    assertEquals(151936, c.text().vocabSize());
    assertEquals(151646, c.imageTokenIndex());
    assertEquals(-1, c.visionFeatureLayer());
    assertEquals("full", c.visionFeatureSelectStrategy());
    assertEquals(AnyResolution.ONEVISION_PINPOINTS, c.anyResolution().pinpoints());
    assertEquals(9, c.anyResolution().anyresMax());
    LlavaConfig four =
        LlavaConfigParser.parse(
            json(
                "{\"model_type\": \"llava_onevision\", \"vision_aspect_ratio\": \"anyres_max_4\","
                    + " \"vision_config\": {\"image_size\": 384, \"patch_size\": 14}}"));
    assertEquals(4, four.anyResolution().anyresMax());
    // No vision_config: LlavaOnevisionConfig's 336 px SigLIP, which the 384 px pinpoints refuse.
    assertTrue(
        failure("{\"model_type\": \"llava_onevision\"}")
            .getMessage()
            .contains("image_grid_pinpoints"));
    for (String bad : List.of("anyres", "anyres_max_0", "anyres_max_nine", "square")) {
      assertTrue(
          failure(
                  "{\"model_type\": \"llava_onevision\", \"vision_aspect_ratio\": \""
                      + bad
                      + "\", \"vision_config\": {\"image_size\": 384, \"patch_size\": 14}}")
              .getMessage()
              .contains("vision_aspect_ratio"),
          bad);
    }
    assertTrue(
        failure(
                "{\"model_type\": \"llava_onevision\", \"vision_config\": {\"image_size\": 384,"
                    + " \"patch_size\": 14}, \"image_grid_pinpoints\": [[384, 500]]}")
            .getMessage()
            .contains("image_grid_pinpoints"));
  }

  @Test
  void llavaInterleaveSiglipConfigGetsSiglipDefaults() throws Exception {
    LlavaConfig c = LlavaConfigParser.parse(resource("llava-interleave-qwen-0.5b-hf-config.json"));
    // hidden_act and layer_norm_eps are not in the file: SiglipVisionConfig's defaults.
    assertEquals(
        new VisionConfig(
            1152, 4304, 26, 16, 384, 14, 3, 1e-6, "gelu_pytorch_tanh", VisionFamily.SIGLIP),
        c.vision());
    assertEquals(27, c.vision().patchesPerSide(), "384 // 14, the last 6 px unused");
    assertEquals(729, c.vision().sequenceLength(), "no class token");
    assertEquals(-1, c.visionFeatureLayer());
    assertEquals(26, c.visionLayersUsed(), "every layer; post_layernorm is not among them");
    assertEquals("full", c.visionFeatureSelectStrategy());
    assertEquals(729, c.imageSeqLength());
    assertEquals(151646, c.imageTokenIndex());
    assertEquals(TextFamily.QWEN2, c.text().family());
  }

  @Test
  void givenSiglipVisionConfigTakesSiglipVisionConfigDefaults() throws Exception {
    LlavaConfig c =
        LlavaConfigParser.parse(
            json("{\"vision_config\": {\"model_type\": \"siglip_vision_model\"}}"));
    assertEquals(
        new VisionConfig(
            768, 3072, 12, 12, 224, 16, 3, 1e-6, "gelu_pytorch_tanh", VisionFamily.SIGLIP),
        c.vision());
    // llava's own defaults still apply: layer -2, "default" drops the first of 196 patches.
    assertEquals(-2, c.visionFeatureLayer());
    assertEquals(195, c.imageSeqLength());
    LlavaConfig full =
        LlavaConfigParser.parse(
            json(
                "{\"vision_config\": {\"model_type\": \"siglip_vision_model\"},"
                    + " \"vision_feature_select_strategy\": \"full\"}"));
    assertEquals(196, full.imageSeqLength());
  }

  @Test
  void siglipRefusalsNameTheFieldAndTheCount() throws Exception {
    CheckpointException seq =
        failure(
            "{\"vision_config\": {\"model_type\": \"siglip_vision_model\", \"image_size\": 384,"
                + " \"patch_size\": 14}, \"vision_feature_select_strategy\": \"full\","
                + " \"image_seq_length\": 730}");
    assertTrue(seq.getMessage().contains("image_seq_length"), seq.getMessage());
    assertTrue(seq.getMessage().contains("729 features"), seq.getMessage());
    assertFalse(seq.getMessage().contains("class token"), seq.getMessage());
    CheckpointException unknown = failure("{\"vision_config\": {\"model_type\": \"dinov2\"}}");
    assertTrue(unknown.getMessage().contains("vision_config.model_type"), unknown.getMessage());
    assertTrue(unknown.getMessage().contains("\"dinov2\""), unknown.getMessage());
    assertTrue(
        unknown.getMessage().contains("clip_vision_model or siglip_vision_model"),
        unknown.getMessage());
    CheckpointException original =
        failure(
            "{\"model_type\": \"llava_llama\","
                + " \"mm_vision_tower\": \"google/siglip-so400m-patch14-384\"}");
    assertTrue(original.getMessage().contains("mm_vision_tower"), original.getMessage());
    assertTrue(original.getMessage().contains("llava-hf"), original.getMessage());
  }

  @Test
  void missingFileIsNamed() {
    Path missing = dir.resolve("nowhere/config.json");
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> LlavaConfigParser.parse(missing));
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
  }
}
