package io.llavaserve.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.gguf.GgufExport;
import io.llavaserve.engine.gguf.GgufType;
import io.llavaserve.engine.sampling.SamplingParams;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * This server against llama.cpp in one run on the same weights: per format, the checkpoint's
 * decoder is exported to GGUF and measured by llama.cpp ({@code web/bench/llamacpp/bench.mjs},
 * node-llama-cpp's prebuilt build) and then by this server's engine in process, with the same
 * workload on both sides: a 128-token prompt's prefill (best of 3, fresh prompts), one stream's
 * greedy decode of 128 tokens after a 16-token prompt (best of 3), and N sequences decoding 64
 * tokens each after 32-token prompts at once (llama.cpp: the best of its parallel counts; here: the
 * best of 3 runs after one not counted), greedy on both sides. Prints the figures and this server's
 * ratio to llama.cpp.
 */
@Command(
    name = "llamacpp",
    description =
        "Benchmark against llama.cpp on the same weights in one run (needs node and"
            + " web/bench/llamacpp installed with npm).")
final class BenchLlamaCppCommand implements Callable<Integer> {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Mixin ModelOption model;

  @Option(
      names = "--formats",
      split = ",",
      defaultValue = "f32,f16,q8_0,q4_0",
      description =
          "GGUF formats, each against this server's counterpart: f32, f16, bf16, q8_0, q4_0"
              + " (default: f32, f16, q8_0, q4_0).")
  List<String> formats;

  @Option(names = "--script", defaultValue = "web/bench/llamacpp/bench.mjs")
  Path script;

  @Option(names = "--node", defaultValue = "node")
  String node;

  @Option(names = "--parallel", defaultValue = "4,8,16,32")
  String parallel;

  @Option(names = "--streams", defaultValue = "32", description = "Concurrent sequences here.")
  int streams;

  @Option(names = "--work-dir", description = "Where the GGUF files go (default: a temporary one).")
  Path workDir;

  @Spec CommandSpec spec;

  /** This server's flags for the counterpart of a GGUF format. */
  static Map<String, String> counterpart(GgufType type) {
    return switch (type) {
      case F32 -> Settings.flags("model.matmul-precision", "float32");
      case F16 -> Settings.flags("model.matmul-precision", "auto");
        // The float16 checkpoint's weights rounded to bfloat16, as the GGUF holds them.
      case BF16 -> Settings.flags("model.matmul-precision", "bfloat16");
      case Q8_0 -> Settings.flags("model.quantization", "int8");
      case Q4_0 -> Settings.flags("model.quantization", "int4");
    };
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (!Files.exists(script)) {
      throw new IllegalArgumentException(
          "--script " + script + " not found; run from the repository root");
    }
    Path dir = model.resolve();
    Path work = workDir != null ? workDir : Files.createTempDirectory("llava-gguf");
    Files.createDirectories(work);
    List<String[]> rows = new ArrayList<>();
    for (String f : formats) {
      GgufType type = GgufType.parse(f);
      Path gguf = work.resolve(type.name().toLowerCase() + ".gguf");
      try (Checkpoint ckpt = Checkpoint.open(dir)) {
        GgufExport.of(ckpt, type, String.valueOf(dir.getFileName())).write(gguf);
      }
      out.printf("%s: llama.cpp ...%n", type);
      out.flush();
      JsonNode theirs = llamaCpp(gguf);
      out.printf("%s: llama.cpp %s; this server ...%n", type, theirs);
      out.flush();
      double[] ours = ours(type);
      rows.add(
          new String[] {
            type.name(),
            cell(theirs.path("prefillTokensPerSec").asDouble(), ours[0]),
            cell(theirs.path("decodeTokensPerSec").asDouble(), ours[1]),
            cell(theirs.path("bestParallelTokensPerSec").asDouble(), ours[2])
          });
      Files.deleteIfExists(gguf);
    }
    if (workDir == null) {
      Files.deleteIfExists(work);
    }
    out.println();
    out.printf(
        "%-5s  %-30s  %-30s  %-30s%n",
        "",
        "prefill tok/s (128 tokens)",
        "decode tok/s, 1 stream",
        "output tok/s, " + streams + " streams");
    out.printf(
        "%-5s  %-30s  %-30s  %-30s%n",
        "",
        "llama.cpp / here (ratio)",
        "llama.cpp / here (ratio)",
        "llama.cpp best / here (ratio)");
    for (String[] r : rows) {
      out.printf("%-5s  %-30s  %-30s  %-30s%n", (Object[]) r);
    }
    return 0;
  }

  private static String cell(double theirs, double ours) {
    return String.format("%.1f / %.1f (%.2fx)", theirs, ours, ours / theirs);
  }

  /** Runs llama.cpp's side on {@code gguf}; its JSON line. */
  private JsonNode llamaCpp(Path gguf) throws Exception {
    Process p =
        new ProcessBuilder(
                node,
                script.getFileName().toString(),
                "--model",
                gguf.toAbsolutePath().toString(),
                "--parallel",
                parallel)
            .directory(script.toAbsolutePath().getParent().toFile())
            .redirectErrorStream(true)
            .start();
    String last = null;
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (line.startsWith("{")) {
          last = line;
        }
      }
    }
    if (p.waitFor() != 0 || last == null) {
      throw new IllegalStateException(
          "llama.cpp's benchmark failed (exit "
              + p.exitValue()
              + "); is npm install done in "
              + script.toAbsolutePath().getParent()
              + "?");
    }
    return JSON.readTree(last);
  }

  /** This server's prefill, single-stream decode and N-stream output tokens/s for the format. */
  private double[] ours(GgufType type) throws Exception {
    Settings settings = model.settings().with(counterpart(type));
    EngineConfig config = ServingConfig.forConcurrency(ServingConfig.engine(settings), streams);
    try (ServingStack stack = ServingStack.inProcess()) {
      stack.load(model.resolve(), ServingConfig.model(settings)).startEngine(config);
      LlavaEngine engine = stack.engine();
      int vocab = Math.min(32000, stack.model().config().text().vocabSize());
      java.util.SplittableRandom rnd = new java.util.SplittableRandom(12345);
      // Warm-up: the graphs of every step shape used below, and the JIT.
      run(
          engine,
          List.of(request(rnd, vocab, 128, 32, "warm1"), request(rnd, vocab, 16, 32, "w2")));
      double prefillMs = Double.MAX_VALUE;
      for (int rep = 0; rep < 3; rep++) {
        BenchStats.Trace t = run(engine, List.of(request(rnd, vocab, 128, 1, "p" + rep))).get(0);
        prefillMs = Math.min(prefillMs, (t.tokenNanos()[0] - t.startNanos()) / 1e6);
      }
      double decode = 0;
      for (int rep = 0; rep < 3; rep++) {
        BenchStats.Trace one = run(engine, List.of(request(rnd, vocab, 16, 129, "d" + rep))).get(0);
        long[] at = one.tokenNanos();
        decode = Math.max(decode, (at.length - 1) / ((at[at.length - 1] - at[0]) / 1e9));
      }
      // The best of 3, as llama.cpp's side keeps the best of its parallel runs; after a round
      // that is not counted, so that the JIT has compiled the paths of a full batch, as it has in
      // a server that has been up for a while (llama.cpp runs its smaller counts first).
      double aggregate = 0;
      for (int rep = -1; rep < 3; rep++) {
        List<GenerationRequest> many = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
          many.add(request(rnd, vocab, 32, 64, "s" + rep + "-" + i));
        }
        long start = System.nanoTime();
        List<BenchStats.Trace> traces = run(engine, many);
        double wall = (System.nanoTime() - start) / 1e9;
        long tokens = traces.stream().mapToLong(BenchStats.Trace::outputTokens).sum();
        if (rep >= 0) {
          aggregate = Math.max(aggregate, tokens / wall);
        }
      }
      return new double[] {128 / (prefillMs / 1000), decode, aggregate};
    }
  }

  private static GenerationRequest request(
      java.util.SplittableRandom rnd, int vocab, int promptTokens, int maxTokens, String id) {
    int[] ids = new int[promptTokens];
    ids[0] = 1;
    for (int k = 1; k < ids.length; k++) {
      ids[k] = 3 + rnd.nextInt(vocab - 3);
    }
    // Greedy, as llama.cpp's side decodes (temperature 0).
    SamplingParams p =
        SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    return GenerationRequest.interactive(id, ids, List.of(), p);
  }

  private static List<BenchStats.Trace> run(LlavaEngine engine, List<GenerationRequest> reqs) {
    List<CompletableFuture<BenchStats.Trace>> pending = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      pending.add(BenchStats.submit(engine, r));
    }
    List<BenchStats.Trace> traces = pending.stream().map(CompletableFuture::join).toList();
    for (BenchStats.Trace t : traces) {
      if (!t.ok()) {
        throw new IllegalStateException("a request failed: " + t.error());
      }
    }
    return traces;
  }
}
