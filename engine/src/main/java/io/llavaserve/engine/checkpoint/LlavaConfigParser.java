package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.TextFamily;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a LLaVA {@code config.json} into a {@link LlavaConfig}, filling in the defaults that
 * transformers applies to absent fields. Two layouts are understood: llava-hf's ({@code
 * vision_config} and {@code text_config} objects, {@code model_type} {@code llava}, {@code
 * llava_next} with {@code image_grid_pinpoints}, or {@code llava_onevision} with those and {@code
 * vision_aspect_ratio}) and the original LLaVA repository's (LLaMA fields at the top level, {@code
 * mm_*} fields for the tower and projector).
 */
public final class LlavaConfigParser {

  /** CLIP ViT-L/14 at 336 px: LlavaConfig's tower when {@code vision_config} is absent. */
  static final VisionConfig CLIP_VIT_L_14_336 =
      new VisionConfig(1024, 4096, 24, 16, 336, 14, 3, 1e-5, "quick_gelu");

  /**
   * LlavaOnevisionConfig's tower when {@code vision_config} is absent: a SigLIP at 336 px in 14 px
   * patches, 1024 wide and 24 layers (which no released checkpoint uses: its 336 px tiles do not
   * divide the default 384 px pinpoints, so such a config is refused naming them).
   */
  static final VisionConfig ONEVISION_DEFAULT_TOWER =
      new VisionConfig(
          1024, 4096, 24, 16, 336, 14, 3, 1e-6, "gelu_pytorch_tanh", VisionFamily.SIGLIP);

  /** LlavaOnevisionConfig's {@code image_token_index} default (Qwen2's added {@code <image>}). */
  static final int ONEVISION_IMAGE_TOKEN = 151646;

  /** The model types of llava-hf's layout. */
  private enum Family {
    LLAVA,
    LLAVA_NEXT,
    LLAVA_ONEVISION
  }

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern CLIP_TOWER =
      Pattern.compile("clip-vit-(base|large)-patch(\\d+)(?:-(\\d+))?");

  private LlavaConfigParser() {}

  /**
   * The parsed config, and whether the file named the projector type. When it did not, the
   * checkpoint decides: a projector without {@code linear_2} weights is linear.
   */
  record Parsed(LlavaConfig config, boolean projectorDeclared) {}

  /** Parses {@code configJson}; every error names the file and the field. */
  public static LlavaConfig parse(Path configJson) throws CheckpointException {
    return read(configJson).config();
  }

  static Parsed read(Path file) throws CheckpointException {
    JsonNode root;
    try {
      root = JSON.readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file + ": missing (every checkpoint needs a config.json)", e);
    } catch (IOException e) {
      throw new CheckpointException(file + ": not readable JSON: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new CheckpointException(file + ": not a JSON object");
    }
    ConfigFields top = new ConfigFields(file, root, "");
    String modelType = top.string("model_type", null);
    if (modelType != null
        && !Set.of("llava", "llava_next", "llava_onevision", "llava_llama").contains(modelType)) {
      throw CheckpointException.field(
          file,
          "model_type",
          "\""
              + modelType
              + "\" is not supported (expected llava, llava_next, llava_onevision or"
              + " llava_llama)");
    }
    try {
      boolean original =
          !root.has("text_config")
              && !root.has("vision_config")
              && ("llava_llama".equals(modelType)
                  || root.has("mm_vision_tower")
                  || root.has("mm_hidden_size")
                  || root.has("hidden_size"));
      Family family =
          switch (modelType == null ? "llava" : modelType) {
            case "llava_next" -> Family.LLAVA_NEXT;
            case "llava_onevision" -> Family.LLAVA_ONEVISION;
            default -> Family.LLAVA;
          };
      return original ? original(top) : hf(top, family);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * llava-hf layout, with the defaults of the family's config class: LlavaConfig's and
   * LlavaNextConfig's (a CLIP tower and a LLaMA decoder when their {@code model_type} is absent,
   * {@code <image>} 32000, feature layer -2, the {@code default} strategy), LlavaOnevisionConfig's
   * (SigLIP and Qwen2, {@code <image>} 151646, feature layer -1, the {@code full} strategy).
   */
  private static Parsed hf(ConfigFields top, Family family) throws CheckpointException {
    boolean onevision = family == Family.LLAVA_ONEVISION;
    VisionConfig vision =
        top.has("vision_config")
            ? vision(
                top.child("vision_config"), onevision ? VisionFamily.SIGLIP : VisionFamily.CLIP)
            : onevision ? ONEVISION_DEFAULT_TOWER : CLIP_VIT_L_14_336;
    ConfigFields textFields =
        top.has("text_config") ? top.child("text_config") : top.empty("text_config");
    TextConfig text = textConfig(textFields, top, onevision ? TextFamily.QWEN2 : TextFamily.LLAMA);
    String declared = top.string("projector_type", top.string("mm_projector_type", null));
    String declaredField = top.has("projector_type") ? "projector_type" : "mm_projector_type";
    ProjectorKind projector = projector(top, declaredField, declared);
    int defaultToken = onevision ? ONEVISION_IMAGE_TOKEN : 32000;
    int imageToken = top.integer("image_token_index", top.integer("image_token_id", defaultToken));
    int featureLayer = top.featureLayer("vision_feature_layer", onevision ? -1 : -2);
    String strategy = top.string("vision_feature_select_strategy", onevision ? "full" : "default");
    LlavaConfig config =
        llava(top, vision, text, projector, imageToken, featureLayer, strategy, "image_seq_length");
    if (family != Family.LLAVA) {
      config = anyResolution(top, config, onevision);
    }
    return new Parsed(config, declared != null);
  }

  /**
   * LlavaNextConfig's and LlavaOnevisionConfig's tiling: {@code image_grid_pinpoints} as [height,
   * width] pairs (llava-v1.6's five or OneVision's 36 when absent), each a whole number of the
   * tower's tiles, and a tower whose selected features form a square map per tile; for OneVision
   * also {@code vision_aspect_ratio} ({@link #anyresMax}).
   */
  private static LlavaConfig anyResolution(ConfigFields top, LlavaConfig c, boolean onevision)
      throws CheckpointException {
    List<AnyResolution.Resolution> pinpoints =
        onevision ? AnyResolution.ONEVISION_PINPOINTS : AnyResolution.LLAVA_V1_6_PINPOINTS;
    String field = "image_grid_pinpoints";
    if (top.has(field)) {
      JsonNode node = top.node.get(field);
      List<AnyResolution.Resolution> read = new ArrayList<>();
      if (node.isArray()) {
        for (JsonNode pair : node) {
          if (!pair.isArray()
              || pair.size() != 2
              || !pair.get(0).canConvertToInt()
              || !pair.get(1).canConvertToInt()
              || pair.get(0).intValue() <= 0
              || pair.get(1).intValue() <= 0) {
            throw CheckpointException.field(
                top.file,
                field,
                "expected [height, width] pairs of positive integers, got " + node);
          }
          read.add(new AnyResolution.Resolution(pair.get(0).intValue(), pair.get(1).intValue()));
        }
      }
      if (read.isEmpty()) {
        throw CheckpointException.field(
            top.file, field, "expected a non-empty list of [height, width] pairs, got " + node);
      }
      pinpoints = read;
    }
    VisionConfig v = c.vision();
    int max = onevision ? anyresMax(top) : 0;
    AnyResolution anyres;
    try {
      anyres = new AnyResolution(pinpoints, v.imageSize(), v.patchesPerSide());
    } catch (IllegalArgumentException e) {
      throw CheckpointException.field(top.file, field, e.getMessage());
    }
    if (onevision) {
      try {
        anyres = AnyResolution.onevision(pinpoints, v.imageSize(), v.patchesPerSide(), max);
      } catch (IllegalArgumentException e) {
        throw CheckpointException.field(top.file, "vision_aspect_ratio", e.getMessage());
      }
    }
    if (c.imageSeqLength() != anyres.featuresPerTile()) {
      throw CheckpointException.field(
          top.file,
          "vision_feature_select_strategy",
          "\""
              + c.visionFeatureSelectStrategy()
              + "\" gives "
              + c.imageSeqLength()
              + " features per tile; "
              + (onevision ? "llava_onevision" : "llava_next")
              + " re-assembles tiles as "
              + v.patchesPerSide()
              + " x "
              + v.patchesPerSide()
              + " feature maps");
    }
    return new LlavaConfig(
        v,
        c.text(),
        c.projector(),
        c.projectorHiddenAct(),
        c.projectorBias(),
        c.imageTokenIndex(),
        c.visionFeatureLayer(),
        c.visionFeatureSelectStrategy(),
        c.imageSeqLength(),
        c.padTokenId(),
        anyres);
  }

  /**
   * LlavaOnevisionConfig's {@code vision_aspect_ratio} ({@code anyres_max_9} when absent): the N of
   * {@code anyres_max_N}, read as transformers does, {@code int(value.strip("anyres_max_"))} (the
   * characters of {@code anyres_max_} stripped from both ends), which must leave a positive number.
   */
  private static int anyresMax(ConfigFields top) throws CheckpointException {
    String field = "vision_aspect_ratio";
    String value = top.string(field, "anyres_max_" + AnyResolution.ONEVISION_ANYRES_MAX);
    String stripChars = "anyres_max_";
    int from = 0;
    int to = value.length();
    while (from < to && stripChars.indexOf(value.charAt(from)) >= 0) {
      from++;
    }
    while (to > from && stripChars.indexOf(value.charAt(to - 1)) >= 0) {
      to--;
    }
    String digits = value.substring(from, to);
    if (!digits.matches("[0-9]{1,6}") || Integer.parseInt(digits) == 0) {
      throw CheckpointException.field(
          top.file,
          field,
          "\"" + value + "\" is not anyres_max_N with N a positive number of tiles");
    }
    return Integer.parseInt(digits);
  }

  /** Original LLaVA layout: LLaMA at the top level, the tower named by {@code mm_vision_tower}. */
  private static Parsed original(ConfigFields top) throws CheckpointException {
    String aspect = top.string("image_aspect_ratio", "pad");
    if (aspect.startsWith("anyres")) {
      // The original repository's anyres pads in black and un-pads with other roundings than
      // transformers' llava_next; serving it as llava_next would differ silently.
      throw CheckpointException.field(
          top.file,
          "image_aspect_ratio",
          "\""
              + aspect
              + "\" in the original LLaVA layout is not supported; convert the checkpoint to"
              + " llava-hf's llava_next layout (model_type llava_next)");
    }
    VisionConfig vision = towerByName(top);
    if (top.has("mm_hidden_size") && top.integer("mm_hidden_size", 0) != vision.hiddenSize()) {
      throw CheckpointException.field(
          top.file,
          "mm_hidden_size",
          top.integer("mm_hidden_size", 0)
              + " does not match the vision tower's hidden size "
              + vision.hiddenSize());
    }
    TextConfig text = textConfig(top, top, TextFamily.LLAMA);
    String declared = top.string("mm_projector_type", null);
    ProjectorKind projector = projector(top, "mm_projector_type", declared);
    String feature = top.string("mm_vision_select_feature", "patch");
    String strategy =
        switch (feature) {
          case "patch" -> "default";
          case "cls_patch" -> "full";
          default ->
              throw CheckpointException.field(
                  top.file,
                  "mm_vision_select_feature",
                  "\"" + feature + "\" is not patch or cls_patch");
        };
    int featureLayer = top.featureLayer("mm_vision_select_layer", -2);
    int imageToken = top.integer("image_token_index", top.integer("image_token_id", 32000));
    return new Parsed(
        llava(top, vision, text, projector, imageToken, featureLayer, strategy, "image_seq_length"),
        declared != null);
  }

  private static LlavaConfig llava(
      ConfigFields top,
      VisionConfig vision,
      TextConfig text,
      ProjectorKind projector,
      int imageToken,
      int featureLayer,
      String strategy,
      String seqField)
      throws CheckpointException {
    int layers = vision.numHiddenLayers();
    if (featureLayer < -(layers + 1) || featureLayer > layers) {
      throw CheckpointException.field(
          top.file,
          top.has("mm_vision_select_layer") ? "mm_vision_select_layer" : "vision_feature_layer",
          featureLayer + " is outside the tower's " + layers + " layers");
    }
    int tokens = vision.sequenceLength() - (strategy.equals("full") ? 0 : 1);
    int seqLength = top.integer(seqField, tokens);
    if (seqLength != tokens) {
      throw CheckpointException.field(
          top.file,
          seqField,
          seqLength
              + " but the vision tower yields "
              + tokens
              + " features per image ("
              + vision.numPatches()
              + " patches"
              + (vision.family().hasClassToken() ? " and a class token" : "")
              + ", strategy "
              + strategy
              + ")");
    }
    return new LlavaConfig(
        vision,
        text,
        projector,
        top.string("projector_hidden_act", "gelu"),
        top.bool("multimodal_projector_bias", true),
        imageToken,
        featureLayer,
        strategy,
        seqLength,
        top.integer("pad_token_id", -1),
        null);
  }

  private static ProjectorKind projector(ConfigFields top, String field, String declared)
      throws CheckpointException {
    if (declared == null || declared.equals("mlp2x_gelu")) {
      return ProjectorKind.MLP2X_GELU;
    }
    if (declared.equals("linear")) {
      return ProjectorKind.LINEAR;
    }
    throw CheckpointException.field(
        top.file, field, "\"" + declared + "\" is not supported (linear or mlp2x_gelu)");
  }

  /**
   * The tower {@code vision_config.model_type} names ({@code fallback} when absent: CLIP as
   * LlavaConfig assumes, SigLIP as LlavaOnevisionConfig does), with the defaults of its
   * transformers config class for the fields the file leaves out: {@code CLIPVisionConfig}'s
   * (ViT-B/32 at 224 px, quick_gelu, eps 1e-5) or {@code SiglipVisionConfig}'s (ViT-B/16 at 224 px,
   * gelu_pytorch_tanh, eps 1e-6).
   */
  private static VisionConfig vision(ConfigFields v, VisionFamily fallback)
      throws CheckpointException {
    String type = v.string("model_type", fallback.modelType());
    VisionFamily family = VisionFamily.of(type);
    if (family == null) {
      throw CheckpointException.field(
          v.file,
          "vision_config.model_type",
          "\"" + type + "\" is not supported (clip_vision_model or siglip_vision_model)");
    }
    boolean siglip = family == VisionFamily.SIGLIP;
    return new VisionConfig(
        v.integer("hidden_size", 768),
        v.integer("intermediate_size", 3072),
        v.integer("num_hidden_layers", 12),
        v.integer("num_attention_heads", 12),
        v.integer("image_size", 224),
        v.integer("patch_size", siglip ? 16 : 32),
        v.integer("num_channels", 3),
        v.number("layer_norm_eps", siglip ? 1e-6 : 1e-5),
        v.string("hidden_act", siglip ? "gelu_pytorch_tanh" : "quick_gelu"),
        family);
  }

  /** The original config names its tower; the dimensions follow from the OpenAI CLIP name. */
  private static VisionConfig towerByName(ConfigFields top) throws CheckpointException {
    String name = top.string("mm_vision_tower", top.string("vision_tower", null));
    if (name == null) {
      return CLIP_VIT_L_14_336;
    }
    if (name.toLowerCase(java.util.Locale.ROOT).contains("siglip")) {
      throw CheckpointException.field(
          top.file,
          top.has("mm_vision_tower") ? "mm_vision_tower" : "vision_tower",
          "\""
              + name
              + "\": SigLIP towers are read from a llava-hf config (vision_config with model_type"
              + " siglip_vision_model), not from the original LLaVA layout");
    }
    Matcher m = CLIP_TOWER.matcher(name);
    if (!m.find()) {
      return CLIP_VIT_L_14_336;
    }
    boolean large = m.group(1).equals("large");
    int patch = Integer.parseInt(m.group(2));
    int image = m.group(3) == null ? 224 : Integer.parseInt(m.group(3));
    return large
        ? new VisionConfig(1024, 4096, 24, 16, image, patch, 3, 1e-5, "quick_gelu")
        : new VisionConfig(768, 3072, 12, 12, image, patch, 3, 1e-5, "quick_gelu");
  }

  /**
   * The decoder's config with the defaults of its family's transformers config class ({@code
   * LlamaConfig}, {@code MistralConfig}, {@code Qwen2Config}). {@code t} is {@code text_config}, or
   * the top level itself in the original layout (always LLaMA, whose model_type is llava's); {@code
   * top} supplies a top-level tie_word_embeddings when text_config has none; {@code fallback} is
   * the family when text_config names none (LLaMA, or Qwen2 for llava_onevision).
   */
  private static TextConfig textConfig(ConfigFields t, ConfigFields top, TextFamily fallback)
      throws CheckpointException {
    TextFamily family = TextFamily.LLAMA;
    if (!t.prefix.isEmpty()) {
      String type = t.string("model_type", fallback.modelType());
      family = TextFamily.of(type);
      if (family == null) {
        throw CheckpointException.field(
            t.file,
            t.prefix + "model_type",
            "\"" + type + "\" is not supported (llama, mistral or qwen2)");
      }
    }
    if (t.has("rope_scaling") && !t.node.get("rope_scaling").isNull()) {
      throw CheckpointException.field(
          t.file,
          t.prefix + "rope_scaling",
          t.node.get("rope_scaling") + " is not supported (only null)");
    }
    if (t.bool("mlp_bias", false)) {
      throw CheckpointException.field(
          t.file, t.prefix + "mlp_bias", "true is not supported (MLP projections without biases)");
    }
    boolean mistral = family == TextFamily.MISTRAL;
    boolean qwen2 = family == TextFamily.QWEN2;
    int hidden = t.integer("hidden_size", 4096);
    int heads = t.integer("num_attention_heads", 32);
    int kvHeads = t.integer("num_key_value_heads", mistral ? 8 : heads);
    int headDim = t.integer("head_dim", heads > 0 ? hidden / heads : 0);
    int layers = t.integer("num_hidden_layers", 32);
    boolean tied =
        t.has("tie_word_embeddings")
            ? t.bool("tie_word_embeddings", false)
            : top.bool("tie_word_embeddings", false);
    boolean attentionBias = t.bool("attention_bias", false);
    int window = 0;
    if (mistral) {
      // Absent: MistralConfig's 4096; null (Mistral 0.2 and later): no window.
      window = t.node.has("sliding_window") ? t.integer("sliding_window", 0) : 4096;
    } else if (qwen2 && t.bool("use_sliding_window", false)) {
      // Qwen2 slides only in layers from max_window_layers on; none of them, no window.
      if (t.integer("max_window_layers", 28) < layers) {
        window = t.node.has("sliding_window") ? t.integer("sliding_window", 0) : 4096;
      }
    }
    if (window < 0) {
      throw CheckpointException.field(
          t.file, t.prefix + "sliding_window", "must be positive or null, got " + window);
    }
    return new TextConfig(
        hidden,
        t.integer("intermediate_size", mistral ? 14336 : qwen2 ? 22016 : 11008),
        layers,
        heads,
        kvHeads,
        headDim,
        t.integer("vocab_size", qwen2 ? 151936 : 32000),
        t.number("rms_norm_eps", 1e-6),
        t.number("rope_theta", 10000.0),
        t.integer("max_position_embeddings", mistral ? 4096 * 32 : qwen2 ? 32768 : 2048),
        t.string("hidden_act", "silu"),
        tied,
        family,
        qwen2 || attentionBias,
        !qwen2 && attentionBias,
        window);
  }
}
