package io.llavaserve.cli;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a deterministic random checkpoint in the llava-hf layout. */
@Command(
    name = "make-tiny",
    description = "Write a small random llava checkpoint (tiny or bench preset).")
final class MakeTinyCommand implements Callable<Integer> {

  enum Preset {
    tiny,
    bench
  }

  @Option(names = "--out", required = true, paramLabel = "DIR")
  Path out;

  @Option(names = "--seed", defaultValue = "0")
  long seed;

  @Option(
      names = "--preset",
      defaultValue = "tiny",
      description = "tiny | bench (default: ${DEFAULT-VALUE}).")
  Preset preset;

  @Spec CommandSpec command;

  @Override
  public Integer call() throws Exception {
    TinySpec spec = (preset == Preset.bench ? TinySpec.bench() : TinySpec.tiny()).withSeed(seed);
    long start = System.nanoTime();
    TinyCheckpoint.write(out, spec);
    command
        .commandLine()
        .getErr()
        .printf(
            "wrote %s checkpoint to %s in %.1f s%n",
            preset, out, (System.nanoTime() - start) / 1e9);
    return 0;
  }
}
