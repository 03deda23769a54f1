package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.generate.GenerationResult;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.engine.sampling.SamplingParams;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Streams one answer to stdout, then prints timings to stderr. */
@Command(name = "generate", description = "Answer one prompt (with images) and stream the text.")
final class GenerateCommand implements Callable<Integer> {

  @Mixin ModelOption model;
  @Mixin PromptOptions prompt;
  @Mixin SamplingOptions sampling;
  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    // Checked before the model loads, so a bad flag fails at once.
    SamplingParams params = sampling.toParams();
    try (LlavaModel m = model.load()) {
      PromptBuilder.Prompt p = prompt.build(m);
      List<PixelValues> pixels = prompt.pixels(m);
      GenerationResult r =
          new Generator(m)
              .generate(
                  p.ids(),
                  pixels,
                  params,
                  piece -> {
                    out.print(piece);
                    out.flush();
                  });
      out.println();
      out.flush();
      err.printf(
          "finish: %s; prompt %d positions, %d tokens generated%n"
              + "load %.2f s, vision %.1f ms, prefill %.1f tokens/s, decode %.1f tokens/s%n",
          r.finishReason().wireName(),
          r.promptTokens(),
          r.tokens().size(),
          m.loadMillis() / 1000.0,
          r.visionNanos() / 1e6,
          r.prefillTokensPerSecond(),
          r.decodeTokensPerSecond());
    }
    return 0;
  }
}
