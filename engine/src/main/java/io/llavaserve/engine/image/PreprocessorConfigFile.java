package io.llavaserve.engine.image;

import static io.llavaserve.engine.image.PreprocessConfig.CLIP_MEAN;
import static io.llavaserve.engine.image.PreprocessConfig.CLIP_STD;
import static io.llavaserve.engine.image.PreprocessConfig.LLAVA_NEXT_PROCESSOR;
import static io.llavaserve.engine.image.PreprocessConfig.LLAVA_ONEVISION_PROCESSOR;
import static io.llavaserve.engine.image.PreprocessConfig.LLAVA_PROCESSOR;
import static io.llavaserve.engine.image.PreprocessConfig.SIGLIP_PROCESSOR;
import static io.llavaserve.engine.image.PreprocessConfig.clipDefaults;
import static io.llavaserve.engine.image.PreprocessConfig.siglipDefaults;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.image.PreprocessConfig.Size;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A checkpoint's {@code preprocessor_config.json} read into a {@link PreprocessConfig}: the keys of
 * the processor class its {@code image_processor_type} names, over that class's defaults.
 */
final class PreprocessorConfigFile {

  private static final ObjectMapper JSON = new ObjectMapper();

  private PreprocessorConfigFile() {}

  /**
   * Reads a checkpoint's {@code preprocessor_config.json}, falling back to {@link
   * PreprocessConfig#clipDefaults(int)} when the file does not exist. Its {@code
   * image_processor_type} picks the processor whose defaults fill in every key it lacks: {@code
   * SiglipImageProcessor} ({@link PreprocessConfig#siglipDefaults(int)}: {@code size} must be
   * {@code {"height", "width"}}, crop keys are ignored as that processor ignores them), anything
   * else CLIPImageProcessor, whose file may take the old form ({@code "size": 336, "crop_size":
   * 336}) or the current one ({@code "size": {"shortest_edge": 336}, "crop_size": {"height": 336,
   * "width": 336}}). {@code LlavaNextImageProcessor} takes CLIPImageProcessor's keys and defaults
   * plus {@code image_grid_pinpoints} (llava-v1.6's five when absent). {@code
   * LlavaOnevisionImageProcessor} takes that class's defaults (size 384 x 384 given as {@code
   * {"height", "width"}} or a {@code shortest_edge}, CLIP's statistics, OneVision's 36 pinpoints,
   * tiles of {@code size}'s height, no crop; its files give mean and std 0.5). Padding to square is
   * on for CLIPImageProcessor (LLaVA-1.5's step, which that class itself skips), {@code do_pad} for
   * {@code LlavaImageProcessor} (CLIPImageProcessor's keys with transformers' switch for LLaVA's
   * padding, off when absent), off for the others; {@link
   * PreprocessConfig#withPadToSquare(boolean)} changes it.
   *
   * @param visionImageSize the tower's {@code image_size}; the crop (or SigLIP's resize) must
   *     produce it
   * @throws IllegalArgumentException naming the key when the file asks for something this
   *     preprocessor does not do or its output does not fit the tower
   * @throws UncheckedIOException when the file exists but cannot be read or parsed
   */
  static PreprocessConfig read(Path preprocessorConfigJson, int visionImageSize) {
    if (!Files.exists(preprocessorConfigJson)) {
      return clipDefaults(visionImageSize);
    }
    JsonNode root;
    try {
      root = JSON.readTree(preprocessorConfigJson.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + preprocessorConfigJson, e);
    }
    int resample = root.path("resample").asInt(3);
    if (resample != 3) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: resample " + resample + " is not supported, only 3 (bicubic)");
    }
    String type = root.path("image_processor_type").asText("");
    if (type.startsWith(LLAVA_ONEVISION_PROCESSOR)) {
      return loadOnevision(root, visionImageSize);
    }
    boolean siglip = SIGLIP_PROCESSOR.equals(type);
    boolean next = type.startsWith(LLAVA_NEXT_PROCESSOR);
    // CLIPImageProcessor never pads, but LLaVA-1.5 was trained on padded images, so it gets the pad
    // here; LlavaImageProcessor says whether to pad in do_pad (false when absent, as that class).
    boolean pad =
        type.startsWith(LLAVA_PROCESSOR) ? root.path("do_pad").asBoolean(false) : !siglip && !next;
    PreprocessConfig defaults =
        siglip ? siglipDefaults(visionImageSize) : clipDefaults(visionImageSize);
    List<AnyResolution.Resolution> pinpoints =
        next ? pinpoints(root.get("image_grid_pinpoints")) : List.of();
    Size size = size(root.get("size"), defaults.size(), siglip);
    int[] crop =
        siglip
            ? new int[] {visionImageSize, visionImageSize}
            : cropSize(root.get("crop_size"), visionImageSize);
    PreprocessConfig config =
        new PreprocessConfig(
            size,
            crop[0],
            crop[1],
            doubles(root, "image_mean", defaults.imageMean()),
            doubles(root, "image_std", defaults.imageStd()),
            root.path("rescale_factor").asDouble(defaults.rescaleFactor()),
            pad,
            root.path("do_resize").asBoolean(true),
            !siglip && root.path("do_center_crop").asBoolean(true),
            root.path("do_rescale").asBoolean(true),
            root.path("do_normalize").asBoolean(true),
            pinpoints,
            false);
    if (config.doResize()
        && !config.doCenterCrop()
        && !size.keepsAspectRatio()
        && (size.height() != visionImageSize || size.width() != visionImageSize)) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: size "
              + size.height()
              + " x "
              + size.width()
              + " does not match vision_config.image_size "
              + visionImageSize);
    }
    // LlavaNextImageProcessor cuts its tiles at crop_size whether or not it crops.
    if ((config.doCenterCrop() || next)
        && (config.cropHeight() != visionImageSize || config.cropWidth() != visionImageSize)) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: crop_size "
              + config.cropHeight()
              + " x "
              + config.cropWidth()
              + " does not match vision_config.image_size "
              + visionImageSize);
    }
    return config;
  }

  /** LlavaOnevisionImageProcessor's keys over that class's defaults ({@link #read}). */
  private static PreprocessConfig loadOnevision(JsonNode root, int visionImageSize) {
    JsonNode sizeNode = root.get("size");
    Size size = Size.exact(384, 384);
    if (sizeNode != null && !sizeNode.isNull()) {
      if (sizeNode.isObject() && sizeNode.has("height") && sizeNode.has("width")) {
        size = Size.exact(sizeNode.get("height").asInt(), sizeNode.get("width").asInt());
      } else if (sizeNode.isObject() && sizeNode.has("shortest_edge")) {
        // size_tuple = (shortest_edge, shortest_edge): a square, whatever the image.
        int edge = sizeNode.get("shortest_edge").asInt();
        size = Size.exact(edge, edge);
      } else {
        throw new IllegalArgumentException(
            "preprocessor_config.json: LlavaOnevisionImageProcessor's size must be {\"height\":"
                + " h, \"width\": w} or {\"shortest_edge\": n}, got "
                + sizeNode);
      }
    }
    if (size.height() != visionImageSize || size.width() != visionImageSize) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: size "
              + size.height()
              + " x "
              + size.width()
              + " does not match vision_config.image_size "
              + visionImageSize
              + " (LlavaOnevisionImageProcessor cuts and resizes tiles to it)");
    }
    if (!root.path("do_resize").asBoolean(true)) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: do_resize false is not supported for"
              + " LlavaOnevisionImageProcessor (an image among several must be resized to a tile)");
    }
    JsonNode pinpointsNode = root.get("image_grid_pinpoints");
    List<AnyResolution.Resolution> pinpoints =
        pinpointsNode == null || pinpointsNode.isNull()
            ? AnyResolution.ONEVISION_PINPOINTS
            : pinpoints(pinpointsNode);
    // The processor's own defaults are CLIP's statistics; its checkpoints' files say 0.5.
    return new PreprocessConfig(
        size,
        size.height(),
        size.height(),
        doubles(root, "image_mean", CLIP_MEAN),
        doubles(root, "image_std", CLIP_STD),
        root.path("rescale_factor").asDouble(1.0 / 255),
        false,
        true,
        false,
        root.path("do_rescale").asBoolean(true),
        root.path("do_normalize").asBoolean(true),
        pinpoints,
        true);
  }

  /**
   * LlavaNextImageProcessor's {@code image_grid_pinpoints}: [height, width] pairs, llava-v1.6's
   * five when the key is absent, as that processor's default.
   */
  private static List<AnyResolution.Resolution> pinpoints(JsonNode node) {
    if (node == null || node.isNull()) {
      return AnyResolution.LLAVA_V1_6_PINPOINTS;
    }
    List<AnyResolution.Resolution> out = new ArrayList<>();
    if (node.isArray()) {
      for (JsonNode pair : node) {
        if (!pair.isArray()
            || pair.size() != 2
            || !pair.get(0).canConvertToInt()
            || !pair.get(1).canConvertToInt()
            || pair.get(0).intValue() <= 0
            || pair.get(1).intValue() <= 0) {
          out.clear();
          break;
        }
        out.add(new AnyResolution.Resolution(pair.get(0).intValue(), pair.get(1).intValue()));
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: image_grid_pinpoints must be a non-empty list of [height,"
              + " width] pairs of positive integers, got "
              + node);
    }
    return out;
  }

  /**
   * The {@code size} key: {@code {"height", "width"}} for either processor; for CLIPImageProcessor
   * also {@code {"shortest_edge": n}} or a bare integer n, which means the same.
   */
  private static Size size(JsonNode size, Size fallback, boolean siglip) {
    if (size == null || size.isNull()) {
      return fallback;
    }
    if (size.isObject() && size.has("height") && size.has("width")) {
      return Size.exact(size.get("height").asInt(), size.get("width").asInt());
    }
    if (siglip) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: SiglipImageProcessor's size must be {\"height\": h,"
              + " \"width\": w}, got "
              + size);
    }
    if (size.isInt()) {
      return Size.shortestEdge(size.asInt());
    }
    if (size.has("shortest_edge")) {
      return Size.shortestEdge(size.get("shortest_edge").asInt());
    }
    throw new IllegalArgumentException(
        "preprocessor_config.json: size must be an integer, {\"shortest_edge\": n} or"
            + " {\"height\": h, \"width\": w}, got "
            + size);
  }

  /** {height, width}. */
  private static int[] cropSize(JsonNode crop, int fallback) {
    if (crop == null || crop.isNull()) {
      return new int[] {fallback, fallback};
    }
    if (crop.isInt()) {
      return new int[] {crop.asInt(), crop.asInt()};
    }
    if (crop.has("height") && crop.has("width")) {
      return new int[] {crop.get("height").asInt(), crop.get("width").asInt()};
    }
    throw new IllegalArgumentException(
        "preprocessor_config.json: crop_size must be an integer or {\"height\", \"width\"}, got "
            + crop);
  }

  private static double[] doubles(JsonNode root, String key, double[] fallback) {
    JsonNode node = root.get(key);
    if (node == null || node.isNull()) {
      return fallback;
    }
    if (!node.isArray()) {
      throw new IllegalArgumentException(
          "preprocessor_config.json: " + key + " must be a list of 3 numbers, got " + node);
    }
    double[] values = new double[node.size()];
    for (int i = 0; i < values.length; i++) {
      if (!node.get(i).isNumber()) {
        throw new IllegalArgumentException(
            "preprocessor_config.json: " + key + " must be a list of 3 numbers, got " + node);
      }
      values[i] = node.get(i).asDouble();
    }
    return values;
  }
}
