package io.llavaserve.cli;

import io.llavaserve.web.ServerConfig;
import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.media.MediaConfig;
import io.vertx.core.json.JsonObject;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Batch-job throughput against the online path: the same requests, once from closed-loop streaming
 * clients at a given concurrency, once as one batch job run with that many requests in flight, on
 * an in-process server.
 */
@Command(
    name = "batch",
    description = "Benchmark a batch job against the online API at the same concurrency.")
final class BenchBatchCommand implements Callable<Integer> {

  @Mixin ModelOption model;

  @Mixin EngineOptions engineFlags;

  @Option(names = "--requests", defaultValue = "128", description = "Requests in each run.")
  int requests;

  @Option(
      names = "--concurrency",
      defaultValue = "32",
      description = "Online clients, and the batch job's requests in flight (default: 32).")
  int concurrency;

  @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens per answer.")
  int maxTokens;

  @Option(names = "--prompt-words", defaultValue = "48")
  int promptWords;

  @Option(names = "--seed", defaultValue = "0")
  long seed;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (requests < concurrency || concurrency < 1 || maxTokens < 1) {
      throw new IllegalArgumentException("need requests >= concurrency >= 1 and max-tokens >= 1");
    }
    PrintWriter out = spec.commandLine().getOut();
    Settings s = model.settings().with(engineFlags.flags());
    Path data = Files.createTempDirectory("llava-bench-batch");
    ServerConfig config =
        ServingConfig.inProcessServer(s).toBuilder()
            .batch(new BatchConfig(data, concurrency, 1L << 30))
            .build();
    try (ServingStack stack = ServingStack.bind(config)) {
      stack
          .load(model.resolve(), ServingConfig.model(s))
          .startEngine(ServingConfig.forConcurrency(ServingConfig.engine(s), concurrency))
          .serve("bench", MediaConfig.defaults());
      URI base = URI.create("http://127.0.0.1:" + stack.server().port());
      HttpClient http =
          HttpClient.newBuilder()
              .version(HttpClient.Version.HTTP_1_1)
              .connectTimeout(Duration.ofSeconds(10))
              .build();
      BenchPrompts prompts = new BenchPrompts(seed, promptWords, false);
      out.printf(
          "%d requests of %d-word prompts and %d-token answers (EOS ignored), greedy;"
              + " concurrency %d%n%n",
          requests, promptWords, maxTokens, concurrency);
      out.flush();

      BenchHttpCommand.Transport<String> sse =
          new BenchHttpCommand.Transport<>(
              "sse",
              p -> BenchPrompts.chatBody(p, maxTokens).encode(),
              () -> new SseBenchClient(http, base));
      BenchHttpCommand.run(sse, prompts.next("warmup", 1), 1);
      BenchStats.Summary online =
          BenchHttpCommand.run(sse, prompts.next("online", requests), concurrency);

      Path input = data.resolve("bench-input.jsonl");
      StringBuilder lines = new StringBuilder();
      for (BenchPrompts.Prompt p : prompts.next("batch", requests)) {
        JsonObject body = BenchPrompts.chatBody(p, maxTokens);
        body.remove("stream");
        body.remove("stream_options");
        lines
            .append(
                new JsonObject()
                    .put("custom_id", p.id())
                    .put("method", "POST")
                    .put("url", "/v1/chat/completions")
                    .put("body", body)
                    .encode())
            .append('\n');
      }
      Files.writeString(input, lines, StandardCharsets.UTF_8);
      BatchApiClient client = new BatchApiClient(base.toString(), null);
      String fileId = client.upload(input).getString("id");
      long start = System.nanoTime();
      JsonObject batch = client.create(fileId, "/v1/chat/completions");
      String status = batch.getString("status");
      while (!List.of("completed", "failed", "cancelled").contains(status)) {
        Thread.sleep(50);
        batch = client.batch(batch.getString("id"));
        status = batch.getString("status");
      }
      double wall = (System.nanoTime() - start) / 1e9;
      if (!status.equals("completed")) {
        throw new IllegalStateException("the benchmark batch ended " + status + ": " + batch);
      }
      long tokens = 0;
      int done = 0;
      for (String line : client.content(batch.getString("output_file_id")).split("\n")) {
        if (!line.isBlank()) {
          JsonObject usage =
              new JsonObject(line)
                  .getJsonObject("response")
                  .getJsonObject("body")
                  .getJsonObject("usage");
          tokens += usage.getLong("completion_tokens");
          done++;
        }
      }

      out.println("path        requests   req/s   output tok/s   wall s");
      out.printf(
          "online SSE  %8d  %6.2f  %13.1f  %7.1f%n",
          online.requests(),
          online.requestsPerSec(),
          online.outputTokensPerSec(),
          online.requests() / online.requestsPerSec());
      out.printf("batch job   %8d  %6.2f  %13.1f  %7.1f%n", done, done / wall, tokens / wall, wall);
      out.printf(
          "%nbatch job / online output tok/s: %.2f%n",
          (tokens / wall) / online.outputTokensPerSec());
      out.flush();
      return online.failed() == 0 && done == requests ? 0 : 1;
    }
  }
}
