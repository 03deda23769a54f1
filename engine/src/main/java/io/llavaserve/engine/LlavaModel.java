package io.llavaserve.engine;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.VisionFamily;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImageDecoder;
import io.llavaserve.engine.image.ImageException;
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.engine.prompt.ToolDefinition;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.engine.tokenizer.TokenizerLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A loaded LLaVA checkpoint with everything needed to serve it: tokenizer, chat template, image
 * preprocessor, and the model runner with its weights on the device.
 */
public final class LlavaModel implements AutoCloseable {

  private final Checkpoint checkpoint;
  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final ImagePreprocessor preprocessor;
  private final TfModelRunner runner;
  private final ModelOptions options;
  private final long loadMillis;

  private LlavaModel(
      Checkpoint checkpoint,
      Tokenizer tokenizer,
      ChatTemplate template,
      ImagePreprocessor preprocessor,
      TfModelRunner runner,
      ModelOptions options,
      long loadMillis) {
    this.checkpoint = checkpoint;
    this.tokenizer = tokenizer;
    this.template = template;
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
      Path pre = ckpt.preprocessorConfigJson().orElse(null);
      int side = cfg.vision().imageSize();
      PreprocessConfig pc =
          pre != null && Files.exists(pre)
              ? PreprocessConfig.load(pre, side)
              : cfg.vision().family() == VisionFamily.SIGLIP
                  ? PreprocessConfig.siglipDefaults(side)
                  : PreprocessConfig.clipDefaults(side);
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
              ckpt, kv, options.threads(), options.matmulPrecision(), options.kernels());
      long ms = (System.nanoTime() - start) / 1_000_000;
      return new LlavaModel(ckpt, tok, template, new ImagePreprocessor(pc), runner, options, ms);
    } catch (CheckpointException | IOException | RuntimeException e) {
      ckpt.close();
      throw e;
    }
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

  /** Decodes (within the configured limits) and preprocesses one image. */
  public PixelValues preprocess(byte[] encoded) throws ImageException {
    return preprocessor.preprocess(ImageDecoder.decode(encoded, options.imageLimits()));
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
