package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.graph.TfModelRunner;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options shared by every command that loads a model. */
final class ModelOption {

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description = "Checkpoint folder in the Hugging Face llava layout (default: the embedded tiny model).")
  Path model;

  @Option(
      names = "--kv-cache-mb",
      paramLabel = "MB",
      description = "Memory budget of the KV block pool (default: ${DEFAULT-VALUE}).",
      defaultValue = "1024")
  long kvCacheMb;

  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "TensorFlow intra-op threads (default: all cores).")
  Integer threads;

  @Option(names = "--no-pad", description = "Resize without padding images to a square first.")
  boolean noPad;

  Path resolve() throws IOException {
    return model != null ? model : DefaultModel.ensure();
  }

  LlavaModel load() throws IOException, CheckpointException {
    TfModelRunner.Threads t =
        threads == null ? TfModelRunner.Threads.defaults() : new TfModelRunner.Threads(threads, 1);
    ModelOptions o = ModelOptions.defaults().withKvCacheBytes(kvCacheMb << 20).withPadToSquare(!noPad);
    o = new ModelOptions(o.kvCacheBytes(), o.blockSize(), t, o.padToSquare(), o.imageLimits());
    return LlavaModel.load(resolve(), o);
  }
}
