package io.llavaserve.cli;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.gguf.GgufExport;
import io.llavaserve.engine.gguf.GgufType;
import io.llavaserve.engine.gguf.GgufWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a checkpoint's language model as a llama.cpp GGUF file. */
@Command(
    name = "export-gguf",
    description =
        "Write the checkpoint's language model (LLaMA or Mistral decoder) as a llama.cpp GGUF file.")
final class ExportGgufCommand implements Callable<Integer> {

  @Mixin ModelOption model;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "The .gguf file.")
  Path out;

  @Option(
      names = "--type",
      defaultValue = "f16",
      paramLabel = "TYPE",
      description = "The matrices' type: f32, f16, q8_0 or q4_0 (norms stay f32). Default: f16.")
  String type;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    GgufType t = GgufType.parse(type);
    Path dir = model.resolve();
    long start = System.nanoTime();
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      GgufWriter w = GgufExport.of(ckpt, t, String.valueOf(dir.getFileName()));
      Path parent = out.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      w.write(out);
    }
    spec.commandLine()
        .getOut()
        .printf(
            "wrote %s: %s, %.1f MB in %.1f s%n",
            out, t.name(), Files.size(out) / 1e6, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
