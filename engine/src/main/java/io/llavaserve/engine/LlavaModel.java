package io.llavaserve.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.GenerationConfig;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.VisionFamily;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.NativeKernels;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImageDecoder;
import io.llavaserve.engine.image.ImageException;
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.prompt.ToolDefinition;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.engine.tokenizer.TokenizerLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A loaded LLaVA checkpoint with everything needed to serve it: tokenizer, chat template, image
 * preprocessor, and the model runner with its weights on the device.
 */
public final class LlavaModel implements AutoCloseable {

  private final Checkpoint checkpoint;
  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final ToolCallSyntax toolCallSyntax;
  private final ImagePreprocessor preprocessor;
  private final TfModelRunner runner;
  private final ModelOptions options;
  private final GenerationConfig generation;
  private final long loadMillis;

  private LlavaModel(
      Checkpoint checkpoint,
      Tokenizer tokenizer,
      ChatTemplate template,
      ImagePreprocessor preprocessor,
      TfModelRunner runner,
      ModelOptions options,
      GenerationConfig generation,
      long loadMillis) {
    this.checkpoint = checkpoint;
    this.tokenizer = tokenizer;
    this.template = template;
    this.generation = generation;
    this.toolCallSyntax = ToolCallSyntax.resolve(options.toolCallParser(), template, tokenizer);
    this.preprocessor = preprocessor;
    this.runner = runner;
    this.options = options;
    this.loadMillis = loadMillis;
  }

  /** Opens the checkpoint folder, builds the graph and uploads the weights. */
  public static LlavaModel load(Path dir, ModelOptions options)
      throws CheckpointException, IOException {
    long start = System.nanoTime();
    Checkpoint ckpt = Checkpoint.open(dir);
    try {
      LlavaConfig cfg = ckpt.config();
      Tokenizer tok = TokenizerLoader.load(ckpt.tokenizerJson(), ckpt.tokenizerConfigJson());
      ChatTemplate template =
          ChatTemplate.forCheckpoint(ckpt.tokenizerConfigJson(), dir.resolve("chat_template.json"));
      PreprocessConfig pc = preprocessConfig(ckpt);
      GenerationConfig generation = GenerationConfig.read(dir, cfg.text().vocabSize());
      // Padding to square is LLaVA-1.5's step before CLIPImageProcessor; the option can switch it
      // off there, and a processor that does not pad (SigLIP's) never starts.
      if (pc.padToSquare()) {
        pc = pc.withPadToSquare(options.padToSquare());
      }
      // AUTO choices follow how the decoder's weights are stored.
      DType stored = ckpt.tensor("language_model.model.layers.0.mlp.down_proj.weight").dtype();
      options =
          options.toBuilder()
              .matmulPrecision(options.matmulPrecision().resolve(stored, options.kernels()))
              .kvCacheDtype(options.kvCacheDtype().resolve(stored.byteSize()))
              .build();
      KvCacheConfig kv =
          KvCacheConfig.fromBudget(
              cfg.text(), options.blockSize(), options.kvCacheBytes(), options.kvCacheDtype());
      TfModelRunner runner =
          TfModelRunner.load(
              ckpt,
              kv,
              options.threads(),
              options.matmulPrecision(),
              options.quantization(),
              options.kernels(),
              options.int8ActivationRows());
      long ms = (System.nanoTime() - start) / 1_000_000;
      return new LlavaModel(
          ckpt, tok, template, new ImagePreprocessor(pc), runner, options, generation, ms);
    } catch (CheckpointException | IOException | RuntimeException e) {
      ckpt.close();
      throw e;
    }
  }

  /**
   * The checkpoint's {@code preprocessor_config.json}, or its family's processor when it has none.
   * A llava_next checkpoint needs LlavaNextImageProcessor, a llava_onevision one
   * LlavaOnevisionImageProcessor, with the config's pinpoints: the processor's pinpoints decide the
   * tiles, the model's the grid their features re-assemble into. A llava_onevision checkpoint's
   * {@code processor_config.json}, when shipped, must count as the model packs ({@link
   * #checkProcessorConfig}).
   */
  static PreprocessConfig preprocessConfig(Checkpoint ckpt) throws CheckpointException {
    LlavaConfig cfg = ckpt.config();
    if (cfg.isOneVision()) {
      checkProcessorConfig(ckpt);
    }
    Path pre = ckpt.preprocessorConfigJson().orElse(null);
    int side = cfg.vision().imageSize();
    if (pre == null || !Files.exists(pre)) {
      if (cfg.isOneVision()) {
        return PreprocessConfig.onevisionDefaults(side, cfg.anyResolution().pinpoints());
      }
      if (cfg.isAnyResolution()) {
        return PreprocessConfig.llavaNextDefaults(side, cfg.anyResolution().pinpoints());
      }
      return cfg.vision().family() == VisionFamily.SIGLIP
          ? PreprocessConfig.siglipDefaults(side)
          : PreprocessConfig.clipDefaults(side);
    }
    PreprocessConfig pc = PreprocessConfig.load(pre, side);
    String processor =
        cfg.isOneVision()
            ? PreprocessConfig.LLAVA_ONEVISION_PROCESSOR
            : PreprocessConfig.LLAVA_NEXT_PROCESSOR;
    if (cfg.isAnyResolution()
        && (pc.tilesLoneImagesOnly() != cfg.isOneVision() || !pc.tilesImages())) {
      throw new CheckpointException(
          pre + ": a " + cfg.modelType() + " checkpoint needs image_processor_type " + processor);
    }
    if (cfg.isAnyResolution() && !pc.imageGridPinpoints().equals(cfg.anyResolution().pinpoints())) {
      throw new CheckpointException(
          pre
              + ": image_grid_pinpoints "
              + pc.imageGridPinpoints()
              + " differ from config.json's "
              + cfg.anyResolution().pinpoints());
    }
    if (!cfg.isAnyResolution() && pc.tilesImages()) {
      throw new CheckpointException(
          pre
              + ": "
              + (pc.tilesLoneImagesOnly()
                  ? PreprocessConfig.LLAVA_ONEVISION_PROCESSOR
                  : PreprocessConfig.LLAVA_NEXT_PROCESSOR)
              + " tiles images, but config.json's model_type is "
              + cfg.modelType());
    }
    return pc;
  }

  /**
   * LlavaOnevisionProcessor counts an image's tokens from its own {@code processor_config.json}
   * ({@code vision_aspect_ratio}, {@code num_image_tokens}) while the model packs by config.json's;
   * where the two disagree transformers fails on every image, so such a checkpoint is refused.
   */
  private static void checkProcessorConfig(Checkpoint ckpt) throws CheckpointException {
    Path file = ckpt.processorConfigJson().orElse(null);
    if (file == null) {
      return;
    }
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new CheckpointException(file + ": not readable JSON: " + e.getMessage(), e);
    }
    LlavaConfig cfg = ckpt.config();
    String ratio = "anyres_max_" + cfg.anyResolution().anyresMax();
    JsonNode declared = root.get("vision_aspect_ratio");
    if (declared != null && !declared.isNull() && !ratio.equals(declared.asText())) {
      throw fieldProblem(
          file,
          "vision_aspect_ratio",
          "\""
              + declared.asText()
              + "\" differs from config.json's \""
              + ratio
              + "\"; the processor would count other positions than the model packs");
    }
    // The processor counts a tile's tokens with the class token, then takes one off for "default".
    JsonNode tokens = root.get("num_image_tokens");
    int perTile = cfg.anyResolution().featuresPerTile() + (cfg.dropsClsToken() ? 1 : 0);
    if (tokens != null && !tokens.isNull() && tokens.asInt() != perTile) {
      throw fieldProblem(
          file,
          "num_image_tokens",
          tokens
              + " but the vision tower yields "
              + perTile
              + " tokens per tile (strategy "
              + cfg.visionFeatureSelectStrategy()
              + ")");
    }
  }

  private static CheckpointException fieldProblem(Path file, String field, String problem) {
    return new CheckpointException(file + ": field \"" + field + "\": " + problem);
  }

  public LlavaConfig config() {
    return checkpoint.config();
  }

  public Checkpoint checkpoint() {
    return checkpoint;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  public ChatTemplate template() {
    return template;
  }

  /**
   * The ids besides the tokenizer's EOS that end an answer: those {@code generation_config.json}
   * lists as {@code eos_token_id} (Qwen2's {@code <|endoftext|>} beside {@code <|im_end|>}), as
   * transformers' {@code generate} and vLLM stop on them. {@code ignore_eos} ignores these too.
   */
  public Set<Integer> moreEosTokenIds() {
    Set<Integer> ids = new LinkedHashSet<>(generation.eosTokenIds());
    ids.remove(tokenizer.eosId());
    return Set.copyOf(ids);
  }

  /**
   * The kernels this model runs, by part: {@code matmul} (the Linear layers' weights, then {@code
   * native-<path>} or {@code stock}), {@code attention} (decode and prefill attention over the KV
   * pool, {@code native-<path>} or {@code stock}) and {@code cpu_path}, the vector path the native
   * kernels chose on this CPU ({@code avx512}, {@code avx2} or {@code plain}; {@code none} without
   * the native library). A bfloat16 matmul on AMX tiles names {@code amx}. With int8 or int4
   * weights on the native kernels, {@code activations} names how steps of {@link
   * ModelOptions#int8ActivationRows()} rows or more multiply them: {@code
   * int8-<path>-from-<rows>-rows} ({@code avx512_vnni}, {@code avx_vnni}, {@code avx2} or {@code
   * plain}), or {@code float32}.
   */
  public java.util.Map<String, String> kernels() {
    String path = NativeKernels.vectorPath();
    boolean amx =
        options.matmulPrecision() == MatmulPrecision.BFLOAT16
            && runner.nativeMatMul()
            && NativeKernels.cpuHasAmxBf16();
    boolean quantized = runner.quantization() != Quantization.NONE;
    String weights =
        (quantized ? runner.quantization() : options.matmulPrecision())
            .name()
            .toLowerCase(java.util.Locale.ROOT);
    boolean nativeLinear = quantized ? runner.nativeQuantizedMatMul() : runner.nativeMatMul();
    java.util.Map<String, String> k = new java.util.LinkedHashMap<>();
    k.put("matmul", weights + (nativeLinear ? "-native-" + (amx ? "amx" : path) : "-stock"));
    k.put("attention", runner.nativeAttention() ? "native-" + path : "stock");
    k.put("cpu_path", NativeKernels.available() ? path : "none");
    if (quantized && runner.nativeQuantizedMatMul()) {
      int rows = options.int8ActivationRows();
      k.put(
          "activations",
          rows > 0 ? "int8-" + NativeKernels.int8Path() + "-from-" + rows + "-rows" : "float32");
    }
    return java.util.Collections.unmodifiableMap(k);
  }

  /** How the model writes tool calls, from its template and tokenizer. */
  public ToolCallSyntax toolCallSyntax() {
    return toolCallSyntax;
  }

  public TfModelRunner runner() {
    return runner;
  }

  public ModelOptions options() {
    return options;
  }

  /** Wall time the load took. */
  public long loadMillis() {
    return loadMillis;
  }

  /**
   * Positions {@code image} fills in the expanded prompt: {@code image_seq_length} for llava, for
   * llava_next and llava_onevision what its size gives, and for an untiled llava_onevision image
   * (one of several) its tile and a newline ({@link LlavaConfig#imagePositions(int, int, int)}).
   */
  public int imagePositions(PixelValues image) {
    return config().imagePositions(image.tiles(), image.imageHeight(), image.imageWidth());
  }

  /** {@code ids} with the {@code i}-th image token expanded to image {@code i}'s positions. */
  public ExpandedPrompt expand(int[] ids, List<PixelValues> images) {
    int[] rows = new int[images.size()];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = imagePositions(images.get(i));
    }
    return ExpandedPrompt.expand(ids, config().imageTokenIndex(), rows);
  }

  /** Decodes (within the configured limits) and preprocesses a prompt's only image. */
  public PixelValues preprocess(byte[] encoded) throws ImageException {
    return preprocess(encoded, 1);
  }

  /**
   * Decodes (within the configured limits) and preprocesses one of a prompt's {@code
   * imagesInPrompt} images: llava_onevision tiles only a prompt's lone image, so the count decides
   * its tiles and positions.
   */
  public PixelValues preprocess(byte[] encoded, int imagesInPrompt) throws ImageException {
    return preprocessor.preprocess(
        ImageDecoder.decode(encoded, options.imageLimits()), imagesInPrompt);
  }

  /** Prompt ids for chat messages, one image token per image part. */
  public PromptBuilder.Prompt chatPrompt(List<ChatMessage> messages) {
    return PromptBuilder.build(tokenizer, template, messages, config().imageTokenIndex());
  }

  /** As {@link #chatPrompt(List)}, opening the assistant's turn only when asked. */
  public PromptBuilder.Prompt chatPrompt(List<ChatMessage> messages, boolean addGenerationPrompt) {
    return PromptBuilder.build(
        tokenizer, template, messages, config().imageTokenIndex(), addGenerationPrompt);
  }

  /** As {@link #chatPrompt(List, boolean)}, with the tools the model may call. */
  public PromptBuilder.Prompt chatPrompt(
      List<ChatMessage> messages, List<ToolDefinition> tools, boolean addGenerationPrompt) {
    return PromptBuilder.build(
        tokenizer, template, messages, tools, config().imageTokenIndex(), addGenerationPrompt);
  }

  /** Prompt ids for raw text, where {@code <image>} marks each image. */
  public PromptBuilder.Prompt rawPrompt(String text) {
    return PromptBuilder.raw(tokenizer, text, config().imageTokenIndex());
  }

  @Override
  public void close() {
    runner.close();
    checkpoint.close();
  }
}
