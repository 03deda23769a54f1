package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.TextFamily;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.llavaserve.engine.tokenizer.Qwen2TokenizerFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a complete random LLaVA checkpoint in the llava-hf layout (config.json, safetensors,
 * preprocessor_config.json, processor_config.json, tokenizer files), for tests and as the server's
 * built-in model. A LLaMA or Mistral decoder gets the bundled LLaMA tokenizer; a Qwen2 decoder a
 * byte-level one in Qwen2's layout with its generation_config.json ({@link Qwen2TokenizerFiles}).
 *
 * <p>Weights are Gaussian, deterministic in the seed and the tensor's canonical name (so the same
 * spec in another naming, dtype or sharding holds the same values). Scales keep every activation
 * near unit size: linear weights N(0, 1/fan_in), norm weights 1 + N(0, 0.05^2), biases N(0,
 * 0.02^2), token embeddings N(0, 1), and the LM head N(0, 4/hidden), so that the last RMSNorm's
 * unit-RMS output gives logits with a standard deviation near 2.
 */
public final class TinyCheckpoint {

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Qwen2Config's default window, written (unused, use_sliding_window false) as the real files do.
   */
  private static final int MAX_QWEN2_WINDOW = 4096;

  private TinyCheckpoint() {}

  /** Writes the checkpoint for {@code spec} into {@code outDir} (created if absent). */
  public static Path write(Path outDir, TinySpec spec) throws IOException {
    LlavaConfig config = spec.toConfig();
    return write(outDir, spec, (name, shape) -> gaussian(spec.seed(), name, shape, config.text()));
  }

  /**
   * Writes a checkpoint of {@code spec}'s shape with the given values (by canonical tensor name)
   * instead of random ones: how trained weights are exported.
   */
  public static Path writeWithValues(
      Path outDir, TinySpec spec, java.util.function.Function<String, float[]> values)
      throws IOException {
    return write(
        outDir,
        spec,
        (name, shape) ->
            SafetensorsWriter.Tensor.of(name, DType.F32, shape, values.apply(name)).values());
  }

  private static Path write(
      Path outDir,
      TinySpec spec,
      java.util.function.BiFunction<String, long[], SafetensorsWriter.Values> values)
      throws IOException {
    Files.createDirectories(outDir);
    LlavaConfig config = spec.toConfig();
    writeConfig(outDir.resolve(Checkpoint.CONFIG), spec, config);
    Path preprocessor = outDir.resolve(Checkpoint.PREPROCESSOR_CONFIG);
    if (config.isOneVision()) {
      writeOnevisionPreprocessorConfig(preprocessor, config.anyResolution());
      writeOnevisionProcessorConfig(outDir.resolve(Checkpoint.PROCESSOR_CONFIG), config);
      writeChatTemplate(outDir.resolve(Checkpoint.CHAT_TEMPLATE), ONEVISION_CHAT_TEMPLATE);
    } else if (config.isAnyResolution()) {
      writeLlavaNextPreprocessorConfig(preprocessor, config.anyResolution());
    } else if (config.vision().family() == VisionFamily.SIGLIP) {
      writeSiglipPreprocessorConfig(preprocessor, spec.imageSize());
    } else {
      writePreprocessorConfig(preprocessor, spec.imageSize());
    }
    if (!config.isOneVision()) {
      writeProcessorConfig(outDir.resolve(Checkpoint.PROCESSOR_CONFIG), config);
    }
    if (spec.textFamily() == TextFamily.QWEN2) {
      Qwen2TokenizerFiles.write(outDir, spec.qwen2Layout(), processorClass(config));
      if (!config.isOneVision()) {
        // The processor's template, as llava-hf ships one beside a Qwen2 tokenizer.
        writeChatTemplate(
            outDir.resolve(Checkpoint.CHAT_TEMPLATE), Qwen2TokenizerFiles.CHATML_TEMPLATE);
      }
    } else {
      LlamaTokenizer.writeBundledLlamaFiles(outDir);
    }
    List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
    for (Map.Entry<String, long[]> e : WeightShapes.all(config).entrySet()) {
      String name = e.getKey();
      tensors.add(
          new SafetensorsWriter.Tensor(
              spec.naming().stored(name, spec.projector()),
              spec.dtype(),
              e.getValue(),
              values.apply(name, e.getValue())));
    }
    // Contiguous runs of equal tensor counts: exactly spec.shards() files, none empty.
    int n = Math.min(spec.shards(), tensors.size());
    List<List<SafetensorsWriter.Tensor>> shards = new ArrayList<>();
    for (int s = 0; s < n; s++) {
      shards.add(tensors.subList(s * tensors.size() / n, (s + 1) * tensors.size() / n));
    }
    SafetensorsWriter.writeShards(outDir, shards);
    return outDir;
  }

  /** The processor class llava-hf's files name for this family. */
  private static String processorClass(LlavaConfig config) {
    if (config.isOneVision()) {
      return "LlavaOnevisionProcessor";
    }
    return config.isAnyResolution() ? "LlavaNextProcessor" : "LlavaProcessor";
  }

  /** The mean and standard deviation of the weight {@code name}'s values. */
  static double[] distribution(String name, long[] shape, TextConfig text) {
    if (name.contains("norm") && name.endsWith(".weight")) {
      return new double[] {1.0, 0.05};
    }
    if (name.endsWith(".bias")) {
      return new double[] {0.0, 0.02};
    }
    if (name.endsWith("class_embedding")) {
      return new double[] {0.0, 1.0};
    }
    if (name.endsWith("position_embedding.weight")) {
      return new double[] {0.0, 0.2};
    }
    if (name.equals(WeightShapes.IMAGE_NEWLINE)) {
      // As large as a projected feature row, so that a newline in the wrong place shows.
      return new double[] {0.0, 1.0};
    }
    double headScale = 2.0 / Math.sqrt(text.hiddenSize());
    if (name.equals(WeightShapes.EMBED_TOKENS)) {
      // Tied, the embedding is also the LM head and takes its scale.
      return new double[] {0.0, text.tieWordEmbeddings() ? headScale : 1.0};
    }
    if (name.equals(WeightShapes.LM_HEAD)) {
      return new double[] {0.0, headScale};
    }
    long fanIn = 1;
    for (int i = 1; i < shape.length; i++) {
      fanIn *= shape[i];
    }
    return new double[] {0.0, 1.0 / Math.sqrt(fanIn)};
  }

  private static SafetensorsWriter.Values gaussian(
      long seed, String name, long[] shape, TextConfig text) {
    double[] dist = distribution(name, shape, text);
    SplittableRandom random = new SplittableRandom(seed ^ mix(name));
    return (dst, length) -> {
      for (int i = 0; i < length; i++) {
        dst[i] = (float) (dist[0] + dist[1] * random.nextGaussian());
      }
    };
  }

  /** A 64-bit hash of the name (FNV-1a), so each tensor gets its own random stream. */
  private static long mix(String name) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < name.length(); i++) {
      h = (h ^ name.charAt(i)) * 0x100000001b3L;
    }
    return h;
  }

  private static void writeConfig(Path file, TinySpec spec, LlavaConfig config) throws IOException {
    VisionConfig v = config.vision();
    TextConfig t = config.text();
    ObjectNode root = JSON.createObjectNode();
    boolean next = config.isAnyResolution();
    boolean onevision = config.isOneVision();
    root.putArray("architectures")
        .add(
            onevision
                ? "LlavaOnevisionForConditionalGeneration"
                : next ? "LlavaNextForConditionalGeneration" : "LlavaForConditionalGeneration");
    root.put("ignore_index", -100);
    if (next) {
      putPinpoints(root, config.anyResolution());
    }
    if (!onevision) {
      // LlavaOnevisionConfig has no image_seq_length; its processor_config.json says
      // num_image_tokens.
      root.put("image_seq_length", config.imageSeqLength());
    }
    root.put("image_token_index", config.imageTokenIndex());
    root.put("model_type", config.modelType());
    root.put("pad_token_id", config.padTokenId());
    root.put("projector_hidden_act", config.projectorHiddenAct());
    if (!config.projectorBias()) {
      root.put("multimodal_projector_bias", false);
    }
    ObjectNode text = root.putObject("text_config");
    text.putArray("architectures").add(t.family().architecture());
    text.put("hidden_act", t.hiddenAct());
    text.put("hidden_size", t.hiddenSize());
    text.put("intermediate_size", t.intermediateSize());
    text.put("max_position_embeddings", t.maxPositionEmbeddings());
    text.put("model_type", t.family().modelType());
    text.put("num_attention_heads", t.numAttentionHeads());
    text.put("num_hidden_layers", t.numHiddenLayers());
    text.put("num_key_value_heads", t.numKeyValueHeads());
    text.put("rms_norm_eps", t.rmsNormEps());
    text.putNull("rope_scaling");
    text.put("rope_theta", t.ropeTheta());
    switch (t.family()) {
      case LLAMA -> text.put("attention_bias", false);
      case MISTRAL -> text.put("sliding_window", t.slidingWindow());
      case QWEN2 -> {
        text.put("use_sliding_window", false);
        text.put("sliding_window", MAX_QWEN2_WINDOW);
        text.put("max_window_layers", t.numHiddenLayers());
      }
    }
    text.put("tie_word_embeddings", t.tieWordEmbeddings());
    text.put("torch_dtype", spec.dtype().torchName());
    text.put("vocab_size", t.vocabSize());
    // llava-onevision's top level keeps LlavaOnevisionConfig's false; text_config's value wins.
    root.put("tie_word_embeddings", !onevision && t.tieWordEmbeddings());
    root.put("torch_dtype", spec.dtype().torchName());
    root.put(
        "transformers_version", onevision ? "4.45.0.dev0" : next ? "4.39.0.dev0" : "4.36.0.dev0");
    if (next) {
      root.put("use_image_newline_parameter", true);
    }
    if (onevision && t.family() == TextFamily.QWEN2) {
      root.put("video_token_index", spec.qwen2Layout().video());
    }
    if (onevision) {
      root.put("vision_aspect_ratio", "anyres_max_" + config.anyResolution().anyresMax());
    }
    ObjectNode vision = root.putObject("vision_config");
    if (v.family() == VisionFamily.SIGLIP) {
      // As llava-interleave writes it: hidden_act and layer_norm_eps are left to
      // SiglipVisionConfig's defaults, and there is no attention-pooling head.
      vision.put("hidden_size", v.hiddenSize());
      vision.put("image_size", v.imageSize());
      vision.put("intermediate_size", v.intermediateSize());
      vision.put("model_type", v.family().modelType());
      vision.put("num_attention_heads", v.numAttentionHeads());
      vision.put("num_hidden_layers", v.numHiddenLayers());
      vision.put("patch_size", v.patchSize());
      vision.put("vision_use_head", false);
    } else {
      vision.put("hidden_act", v.hiddenAct());
      vision.put("hidden_size", v.hiddenSize());
      vision.put("image_size", v.imageSize());
      vision.put("intermediate_size", v.intermediateSize());
      vision.put("layer_norm_eps", v.layerNormEps());
      vision.put("model_type", v.family().modelType());
      vision.put("num_attention_heads", v.numAttentionHeads());
      vision.put("num_channels", v.numChannels());
      vision.put("num_hidden_layers", v.numHiddenLayers());
      vision.put("patch_size", v.patchSize());
      vision.put("projection_dim", t.hiddenSize());
    }
    root.put("vision_feature_layer", config.visionFeatureLayer());
    root.put("vision_feature_select_strategy", config.visionFeatureSelectStrategy());
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /** CLIPImageProcessor settings as llava-1.5 ships them, at this spec's image size. */
  private static void writePreprocessorConfig(Path file, int imageSize) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode crop = root.putObject("crop_size");
    crop.put("height", imageSize);
    crop.put("width", imageSize);
    root.put("do_center_crop", true);
    root.put("do_convert_rgb", true);
    root.put("do_normalize", true);
    root.put("do_rescale", true);
    root.put("do_resize", true);
    root.putArray("image_mean").add(0.48145466).add(0.4578275).add(0.40821073);
    root.put("image_processor_type", "CLIPImageProcessor");
    root.putArray("image_std").add(0.26862954).add(0.26130258).add(0.27577711);
    root.put("processor_class", "LlavaProcessor");
    root.put("resample", 3);
    root.put("rescale_factor", 1.0 / 255);
    root.putObject("size").put("shortest_edge", imageSize);
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /** {@code image_grid_pinpoints} as [height, width] pairs. */
  private static void putPinpoints(ObjectNode node, AnyResolution anyres) {
    var list = node.putArray("image_grid_pinpoints");
    for (AnyResolution.Resolution r : anyres.pinpoints()) {
      list.addArray().add(r.height()).add(r.width());
    }
  }

  /**
   * LlavaNextImageProcessor settings as llava-v1.6-mistral-7b-hf ships them (CLIP's resize, crop
   * and statistics per tile, the pinpoints, {@code aspect_ratio_setting: anyres}), at this spec's
   * tile size.
   */
  private static void writeLlavaNextPreprocessorConfig(Path file, AnyResolution anyres)
      throws IOException {
    int side = anyres.tileSize();
    ObjectNode root = JSON.createObjectNode();
    root.put("aspect_ratio_setting", "anyres");
    ObjectNode crop = root.putObject("crop_size");
    crop.put("height", side);
    crop.put("width", side);
    root.put("do_center_crop", true);
    root.put("do_convert_rgb", true);
    root.put("do_normalize", true);
    root.put("do_pad", true);
    root.put("do_rescale", true);
    root.put("do_resize", true);
    putPinpoints(root, anyres);
    root.putArray("image_mean").add(0.48145466).add(0.4578275).add(0.40821073);
    root.put("image_processor_type", "LlavaNextImageProcessor");
    root.putArray("image_std").add(0.26862954).add(0.26130258).add(0.27577711);
    root.put("processor_class", "LlavaNextProcessor");
    root.put("resample", 3);
    root.put("rescale_factor", 1.0 / 255);
    root.putObject("size").put("shortest_edge", side);
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /**
   * LlavaOnevisionImageProcessor settings as llava-onevision-qwen2-0.5b-ov-hf ships them (SigLIP's
   * straight resize to {@code size}, mean and std 0.5, the pinpoints, no crop keys), at this spec's
   * tile size.
   */
  private static void writeOnevisionPreprocessorConfig(Path file, AnyResolution anyres)
      throws IOException {
    int side = anyres.tileSize();
    ObjectNode root = JSON.createObjectNode();
    root.put("do_convert_rgb", true);
    root.put("do_normalize", true);
    root.put("do_pad", true);
    root.put("do_rescale", true);
    root.put("do_resize", true);
    putPinpoints(root, anyres);
    root.putArray("image_mean").add(0.5).add(0.5).add(0.5);
    root.put("image_processor_type", "LlavaOnevisionImageProcessor");
    root.putArray("image_std").add(0.5).add(0.5).add(0.5);
    root.put("processor_class", "LlavaOnevisionProcessor");
    root.put("resample", 3);
    root.put("rescale_factor", 1.0 / 255);
    ObjectNode size = root.putObject("size");
    size.put("height", side);
    size.put("width", side);
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /**
   * LlavaProcessor's or LlavaNextProcessor's settings ({@code processor_config.json}, as llava-hf
   * ships them): transformers expands each image token from these, {@code (side / patch_size)^2}
   * patches plus the class token the tower adds, less one for the {@code default} strategy, and
   * fails on any image without them.
   */
  private static void writeProcessorConfig(Path file, LlavaConfig config) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("image_token", "<image>");
    root.put("num_additional_image_tokens", config.vision().family().hasClassToken() ? 1 : 0);
    root.put("patch_size", config.vision().patchSize());
    root.put("processor_class", config.isAnyResolution() ? "LlavaNextProcessor" : "LlavaProcessor");
    root.put("vision_feature_select_strategy", config.visionFeatureSelectStrategy());
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /**
   * LlavaOnevisionProcessor's settings ({@code processor_config.json}): the features of one tile,
   * the reduction and the strategy its token counts use.
   */
  private static void writeOnevisionProcessorConfig(Path file, LlavaConfig config)
      throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("image_token", "<image>");
    // The tower's tokens per tile: the features, and the class token a "default" strategy drops.
    root.put(
        "num_image_tokens",
        config.anyResolution().featuresPerTile() + (config.dropsClsToken() ? 1 : 0));
    root.put("processor_class", "LlavaOnevisionProcessor");
    root.put("video_token", "<video>");
    root.put("vision_aspect_ratio", "anyres_max_" + config.anyResolution().anyresMax());
    root.put("vision_feature_select_strategy", config.visionFeatureSelectStrategy());
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /**
   * llava-onevision's chat template (ChatML, as transformers' conversion writes it into {@code
   * chat_template.json}): each turn's images first, one {@code <image>} line each, then its text.
   */
  static final String ONEVISION_CHAT_TEMPLATE =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
          + "{# Render all images first #}{% for content in message['content'] |"
          + " selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
          + "{# Render all video then #}{% for content in message['content'] |"
          + " selectattr('type', 'equalto', 'video') %}{{ '<video>\\n' }}{% endfor %}"
          + "{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in"
          + " message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text']"
          + " }}{% endfor %}{% else %}{% for content in message['content'] |"
          + " selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] }}{%"
          + " endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>' + '\\n'}}{% endfor %}{% if"
          + " add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  private static void writeChatTemplate(Path file, String template) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("chat_template", template);
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  /**
   * SiglipImageProcessor settings as llava-interleave ships them: a straight bicubic resize to the
   * tower's square, no crop, mean and standard deviation 0.5.
   */
  private static void writeSiglipPreprocessorConfig(Path file, int imageSize) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("do_normalize", true);
    root.put("do_rescale", true);
    root.put("do_resize", true);
    root.putArray("image_mean").add(0.5).add(0.5).add(0.5);
    root.put("image_processor_type", "SiglipImageProcessor");
    root.putArray("image_std").add(0.5).add(0.5).add(0.5);
    root.put("processor_class", "LlavaProcessor");
    root.put("resample", 3);
    root.put("rescale_factor", 1.0 / 255);
    ObjectNode size = root.putObject("size");
    size.put("height", imageSize);
    size.put("width", imageSize);
    JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }
}
