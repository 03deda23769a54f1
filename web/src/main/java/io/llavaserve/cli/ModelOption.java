package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The model flags, one mixin for every command that loads a model. Each flag is the top layer of
 * its key in the layered {@link Settings} ({@code conf/llava-serve.properties}, a config file,
 * environment variables), and {@link ServingConfig} maps the result.
 */
final class ModelOption {

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description =
          "Checkpoint folder in the Hugging Face llava layout (model.path; default: the embedded model trained on the shapes world).")
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
      description =
          "auto (the checkpoint's own type where a native matmul runs it, else float32),"
              + " float32 (exact), float16 (float16 weights kept as float16, exact for float16"
              + " checkpoints) or bfloat16 (half the bytes, rounded) (model.matmul-precision).")
  MatmulPrecision matmulPrecision;

  @Option(
      names = "--quantization",
      paramLabel = "Q",
      description =
          "none, int8 or int4: the language model's Linear weights quantized at load to blocks of"
              + " 32 int8 values with a float32 scale (llama.cpp's Q8_0), 1.125 bytes a weight, or"
              + " of 32 four-bit values with a float16 step and minimum (llama.cpp's Q4_1), 0.625"
              + " bytes a weight (model.quantization).")
  Quantization quantization;

  @Option(
      names = "--int8-activation-rows",
      paramLabel = "N",
      description =
          "With int8 or int4 weights: steps of at least N rows quantize their activations to int8"
              + " blocks of 32 for integer dot products (VNNI or AVX2), as llama.cpp does; 0"
              + " never; auto: 1 where the CPU has AVX-512 VNNI and VBMI (the weights read in"
              + " place), and with int4 where the integer path is AVX2 (int4 read in place"
              + " up to 6 rows), else 2 with int4 and 16 with int8"
              + " (model.int8-activation-rows).")
  String int8ActivationRows;

  @Option(
      names = "--kernels",
      paramLabel = "K",
      description =
          "auto (native attention and float32/float16/bfloat16/int8/int4 matmuls, the bfloat16 ones on AMX tiles where the CPU has AMX), native or graph"
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

  /** The flags given, each as the key it overrides. */
  Map<String, String> flags() {
    return Settings.flags(
        "model.path", model,
        "model.kv-cache-mb", kvCacheMb,
        "model.block-size", blockSize,
        "model.threads", threads,
        "model.matmul-precision", matmulPrecision,
        "model.quantization", quantization,
        "model.int8-activation-rows", int8ActivationRows,
        "model.kernels", kernels,
        "model.kv-cache-dtype", kvCacheDtype,
        "model.pad-to-square", noPad ? "false" : null);
  }

  /** The layered settings under these flags; read once. */
  Settings settings() throws IOException {
    if (settings == null) {
      settings = Settings.load(config).with(flags());
    }
    return settings;
  }

  /** The checkpoint folder: {@code model.path} (flag or setting), or the embedded default model. */
  Path resolve() throws IOException {
    String configured = settings().string("model.path");
    return configured.isEmpty() ? DefaultModel.ensure() : Path.of(configured);
  }

  TfModelRunner.Threads threads() throws IOException {
    return options().threads();
  }

  ModelOptions options() throws IOException {
    return ServingConfig.model(settings());
  }

  LlavaModel load() throws IOException, CheckpointException {
    return LlavaModel.load(resolve(), options());
  }
}
