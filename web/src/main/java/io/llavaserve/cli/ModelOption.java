package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImageLimits;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Options shared by every command that loads a model. Flags left out fall back to the layered
 * {@link Settings} ({@code conf/llava-serve.properties}, a config file, environment variables).
 */
final class ModelOption {

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description =
          "Checkpoint folder in the Hugging Face llava layout (model.path; default: the embedded tiny model).")
  Path model;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "A properties file over conf/llava-serve.properties.")
  Path config;

  @Option(
      names = "--kv-cache-mb",
      paramLabel = "MB",
      description = "Memory budget of the KV block pool (model.kv-cache-mb).")
  Long kvCacheMb;

  @Option(
      names = "--block-size",
      paramLabel = "N",
      description = "Tokens per KV block (model.block-size).")
  Integer blockSize;

  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "TensorFlow intra-op threads, 0 = all cores (model.threads).")
  Integer threads;

  @Option(
      names = "--matmul-precision",
      paramLabel = "P",
      description = "float32 (exact) or bfloat16 (faster with many rows) (model.matmul-precision).")
  MatmulPrecision matmulPrecision;

  @Option(
      names = "--kernels",
      paramLabel = "K",
      description =
          "auto (native attention and bfloat16 matmuls where they help), native or graph"
              + " (stock TensorFlow ops) (model.kernels).")
  Kernels kernels;

  @Option(
      names = "--kv-cache-dtype",
      paramLabel = "T",
      description =
          "float32 (exact) or float16 (twice the tokens, half attention's memory traffic)"
              + " (model.kv-cache-dtype).")
  KvCacheConfig.Dtype kvCacheDtype;

  @Option(
      names = "--no-pad",
      description = "Resize without padding images to a square first (model.pad-to-square=false).")
  boolean noPad;

  private Settings settings;

  Settings settings() throws IOException {
    if (settings == null) {
      settings = Settings.load(config);
    }
    return settings;
  }

  /** The checkpoint folder: the flag, the setting, or the embedded default model. */
  Path resolve() throws IOException {
    if (model != null) {
      return model;
    }
    String configured = settings().string("model.path");
    return configured.isEmpty() ? DefaultModel.ensure() : Path.of(configured);
  }

  TfModelRunner.Threads threads() throws IOException {
    int n = threads != null ? threads : settings().intValue("model.threads");
    if (n < 0) {
      throw new IllegalArgumentException("threads must be >= 0, got " + n);
    }
    TfModelRunner.Threads d = TfModelRunner.Threads.defaults();
    return n == 0 ? d : new TfModelRunner.Threads(n, d.interOp());
  }

  ModelOptions options() throws IOException {
    Settings s = settings();
    long mb = kvCacheMb != null ? kvCacheMb : s.longValue("model.kv-cache-mb");
    if (mb <= 0) {
      throw new IllegalArgumentException("kv-cache-mb must be > 0, got " + mb);
    }
    int block = blockSize != null ? blockSize : s.intValue("model.block-size");
    boolean pad = !noPad && s.bool("model.pad-to-square");
    ImageLimits limits =
        new ImageLimits(s.longValue("image.max-bytes"), s.longValue("image.max-pixels"));
    MatmulPrecision precision =
        matmulPrecision != null
            ? matmulPrecision
            : MatmulPrecision.valueOf(
                s.string("model.matmul-precision").toUpperCase(java.util.Locale.ROOT));
    Kernels kernel =
        kernels != null
            ? kernels
            : Kernels.valueOf(s.string("model.kernels").toUpperCase(java.util.Locale.ROOT));
    KvCacheConfig.Dtype kvDtype =
        kvCacheDtype != null
            ? kvCacheDtype
            : KvCacheConfig.Dtype.valueOf(
                s.string("model.kv-cache-dtype").toUpperCase(java.util.Locale.ROOT));
    return new ModelOptions(mb << 20, block, threads(), pad, limits, precision, kernel, kvDtype);
  }

  LlavaModel load() throws IOException, CheckpointException {
    return LlavaModel.load(resolve(), options());
  }
}
