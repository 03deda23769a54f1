package io.llavaserve.cli;

import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The HTTP front end under load, in the style of vLLM's {@code benchmark_serving.py}: N closed-loop
 * clients stream chat completions over server-sent events and over WebSocket, then the same
 * workload goes through the engine in process, and the HTTP output tokens/s is reported as a share
 * of the in-process figure.
 */
@Command(
    name = "http",
    description =
        "Benchmark the HTTP API with concurrent streaming clients (SSE and WebSocket) against"
            + " the engine in process.")
final class BenchHttpCommand implements Callable<Integer> {

  /** The wire a client streams over. */
  enum Wire {
    SSE,
    WS
  }

  @Mixin ModelOption model;

  @Mixin EngineOptions engineFlags;

  @Option(
      names = "--url",
      paramLabel = "URL",
      description =
          "A running server (http://host:port) instead of one in process; the in-process"
              + " comparison then needs --model.")
  URI url;

  @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32")
  int[] concurrency;

  @Option(
      names = "--requests-per-client",
      defaultValue = "2",
      description = "Requests each client sends one after another (default: ${DEFAULT-VALUE}).")
  int requestsPerClient;

  @Option(
      names = "--max-tokens",
      defaultValue = "128",
      description = "Tokens per answer, EOS ignored (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(
      names = "--prompt-words",
      defaultValue = "48",
      description = "Words per prompt (default: ${DEFAULT-VALUE}).")
  int promptWords;

  @Option(names = "--image", description = "Add one generated PNG (a data URI) to each request.")
  boolean image;

  @Option(
      names = "--image-pool",
      paramLabel = "N",
      defaultValue = "0",
      description =
          "With --image: draw the images round-robin from N generated ones, so they repeat"
              + " (0: a new image for every request; default: ${DEFAULT-VALUE}).")
  int imagePool;

  @Option(
      names = "--transport",
      split = ",",
      defaultValue = "sse,ws",
      description = "sse, ws or both (default: ${DEFAULT-VALUE}).")
  List<Wire> transports;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the prompt words.")
  long seed;

  @Spec CommandSpec spec;

  /** Opens one client; WebSocket clients connect before the clock starts. */
  interface Opener<R> {
    BenchClient<R> open() throws Exception;
  }

  /** A named way to send requests: how a prompt becomes its request, and how a client opens. */
  record Transport<R>(String name, Function<BenchPrompts.Prompt, R> prepare, Opener<R> opener) {}

  @Override
  public Integer call() throws Exception {
    if (concurrency.length == 0 || Arrays.stream(concurrency).anyMatch(n -> n < 1)) {
      throw new IllegalArgumentException("concurrency values must be >= 1");
    }
    if (requestsPerClient < 1 || maxTokens < 1) {
      throw new IllegalArgumentException("requests-per-client and max-tokens must be >= 1");
    }
    if (imagePool < 0 || imagePool > 0 && !image) {
      throw new IllegalArgumentException("--image-pool needs --image and must be >= 0");
    }
    PrintWriter out = spec.commandLine().getOut();
    Settings s = model.settings().with(engineFlags.flags());
    int maxClients = Arrays.stream(concurrency).max().orElse(1);
    boolean inProcessModel = url == null || !s.string("model.path").isEmpty();
    boolean ok;
    try (ServingStack stack =
        url == null
            ? ServingStack.bind(ServingConfig.inProcessServer(s))
            : ServingStack.inProcess()) {
      Path dir = inProcessModel ? model.resolve().toAbsolutePath().normalize() : null;
      if (inProcessModel) {
        stack
            .load(dir, ServingConfig.model(s))
            .startEngine(ServingConfig.forConcurrency(ServingConfig.engine(s), maxClients));
      }
      URI base = url;
      String where = "";
      if (url == null) {
        String id = dir.getFileName().toString();
        stack.serve(id, ServingConfig.media(s));
        base = URI.create("http://127.0.0.1:" + stack.server().port());
        where = " (in process, model " + id + ")";
      }
      HttpClient http =
          HttpClient.newBuilder()
              .version(HttpClient.Version.HTTP_1_1)
              .connectTimeout(Duration.ofSeconds(10))
              .build();
      out.printf("server: %s%s%n", base, where);
      out.printf(
          "requests: %d-word text prompts%s, %d-token answers (EOS ignored), greedy;"
              + " %d per client, one after another%n%n",
          promptWords,
          !image ? "" : imagePool > 0 ? " + one of " + imagePool + " PNGs" : " + one PNG",
          maxTokens,
          requestsPerClient);
      out.flush();
      List<Transport<?>> all = transports(http, base, stack.model(), stack.engine(), out);
      ok = measure(out, all, stack.engine() != null);
      out.flush();
    }
    return ok ? 0 : 1;
  }

  /**
   * Runs every transport at every concurrency and prints the table, the token check and the ratios;
   * false when a request failed.
   */
  private boolean measure(PrintWriter out, List<Transport<?>> all, boolean inProcess)
      throws Exception {
    BenchPrompts prompts = new BenchPrompts(seed, promptWords, image, imagePool);
    for (Transport<?> t : all) {
      run(t, prompts.next("warmup-" + t.name(), 1), 1); // compiles and warms each path
    }
    out.println(
        "                                              TTFT ms                ITL ms"
            + "                 E2E ms");
    out.println(
        "transport  clients   req/s  output tok/s     mean     p50     p99     mean     p50"
            + "     p99     mean     p50     p99");
    Map<String, long[]> tokenCheck = new LinkedHashMap<>();
    List<String> failures = new ArrayList<>();
    List<String> ratios = new ArrayList<>();
    List<String> cacheHits = new ArrayList<>();
    for (int n : concurrency) {
      Map<String, Double> tps = new LinkedHashMap<>();
      for (Transport<?> t : all) {
        List<BenchPrompts.Prompt> work = prompts.next(t.name() + n, n * requestsPerClient);
        BenchStats.Summary r = run(t, work, n);
        row(out, t.name(), n, r);
        tps.put(t.name(), r.outputTokensPerSec());
        if (r.promptTokens() > 0) {
          cacheHits.add(
              String.format(
                  "%s at %d clients %.1f%% (%d of %d)",
                  t.name(), n, 100 * r.cacheHitRate(), r.cachedTokens(), r.promptTokens()));
        }
        long[] check = tokenCheck.computeIfAbsent(t.name(), k -> new long[2]);
        check[0] += r.tokenEvents();
        check[1] += r.usageTokens();
        if (r.failed() > 0) {
          failures.add(
              String.format(
                  "%s at %d clients: %d of %d requests failed; the first: %s",
                  t.name(), n, r.failed(), r.requests(), r.firstError()));
        }
      }
      ratios.add(ratioLine(n, tps));
    }
    out.println();
    failures.forEach(out::println);
    out.println(
        "token events / usage completion_tokens: "
            + String.join(
                ", ",
                tokenCheck.entrySet().stream()
                    .map(e -> e.getKey() + " " + e.getValue()[0] + "/" + e.getValue()[1])
                    .toList()));
    if (!cacheHits.isEmpty()) {
      out.println(
          "prompt tokens found in the prefix cache (usage cached_tokens / prompt_tokens): "
              + String.join(", ", cacheHits));
    }
    if (!inProcess) {
      out.println("in-process comparison skipped: --url without --model");
    } else {
      out.println("HTTP / in-process output tok/s (target >= 0.95):");
      ratios.forEach(out::println);
    }
    out.flush();
    return failures.isEmpty();
  }

  private List<Transport<?>> transports(
      HttpClient http, URI base, LlavaModel m, LlavaEngine engine, PrintWriter out)
      throws Exception {
    List<Transport<?>> all = new ArrayList<>();
    if (transports.contains(Wire.SSE)) {
      all.add(
          new Transport<String>(
              "sse",
              p -> BenchPrompts.chatBody(p, maxTokens).encode(),
              () -> new SseBenchClient(http, base)));
    }
    if (transports.contains(Wire.WS)) {
      try {
        WsBenchClient.connect(http, base).close();
        all.add(
            new Transport<>(
                "ws",
                p -> WsBenchClient.frame(p.id(), BenchPrompts.chatBody(p, maxTokens)),
                () -> WsBenchClient.connect(http, base)));
      } catch (WsBenchClient.NotAvailable e) {
        out.println(e.getMessage());
      }
    }
    if (engine != null) {
      all.add(
          new Transport<>(
              "engine",
              p -> BenchPrompts.engineRequest(m, p, maxTokens),
              () -> r -> BenchStats.submit(engine, r).get()));
    }
    return all;
  }

  /**
   * A closed loop: {@code clients} clients, each sending its share of {@code work} one request
   * after another; requests are built and clients opened before the clock starts.
   */
  static <R> BenchStats.Summary run(
      Transport<R> transport, List<BenchPrompts.Prompt> work, int clients) throws Exception {
    int each = work.size() / clients;
    List<BenchClient<R>> opened = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    try {
      List<List<R>> requests = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        requests.add(
            work.subList(c * each, (c + 1) * each).stream().map(transport.prepare()).toList());
        opened.add(transport.opener().open());
      }
      CountDownLatch go = new CountDownLatch(1);
      List<Future<List<BenchStats.Trace>>> loops = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        BenchClient<R> client = opened.get(c);
        List<R> mine = requests.get(c);
        loops.add(
            pool.submit(
                () -> {
                  go.await();
                  List<BenchStats.Trace> traces = new ArrayList<>();
                  for (R r : mine) {
                    traces.add(client.send(r));
                  }
                  return traces;
                }));
      }
      long start = System.nanoTime();
      go.countDown();
      List<BenchStats.Trace> traces = new ArrayList<>();
      for (Future<List<BenchStats.Trace>> loop : loops) {
        traces.addAll(loop.get());
      }
      return BenchStats.Summary.of(traces, (System.nanoTime() - start) / 1e9);
    } finally {
      pool.shutdownNow();
      opened.forEach(BenchClient::close);
    }
  }

  private static void row(PrintWriter out, String name, int clients, BenchStats.Summary r) {
    out.printf(
        "%-9s  %7d  %6.2f  %12.1f  %s  %s  %s%n",
        name,
        clients,
        r.requestsPerSec(),
        r.outputTokensPerSec(),
        latencies(r.ttftMs()),
        latencies(r.itlMs()),
        latencies(r.e2eMs()));
    out.flush();
  }

  private static String latencies(double[] sorted) {
    return String.format(
        "%7.1f %7.1f %7.1f",
        BenchStats.mean(sorted),
        BenchStats.percentile(sorted, 50),
        BenchStats.percentile(sorted, 99));
  }

  private static String ratioLine(int clients, Map<String, Double> tps) {
    Double inProcess = tps.get("engine");
    List<String> parts = new ArrayList<>();
    tps.forEach(
        (name, v) -> {
          if (!name.equals("engine") && inProcess != null && inProcess > 0) {
            parts.add(String.format("%s %.2f", name, v / inProcess));
          }
        });
    return String.format("  %d clients: %s", clients, String.join(", ", parts));
  }
}
