package io.llavaserve.cli;

import io.llavaserve.web.batchjobs.BatchConfig;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A long run under mixed load that checks what a short benchmark cannot: N closed-loop clients
 * stream over SSE and WebSocket, ask plain JSON answers and send batch jobs, with and without
 * images, cancelling and hanging up part way; a share of greedy requests must give, token for
 * token, the answer they gave alone. A row per interval (throughput, TTFT and inter-token latency,
 * errors by kind, the server's memory, threads and KV blocks), then whether the KV blocks come back
 * after the load drains, the RSS growth over the run's second half, and PASS or FAIL.
 */
@Command(
    name = "soak",
    description =
        "Run mixed SSE, WebSocket, JSON and batch-job load with cancellations for a duration,"
            + " check greedy answers token for token, report per minute; exit 1 on failure.")
final class BenchSoakCommand implements Callable<Integer> {

  @Mixin ModelOption model;

  @Mixin EngineOptions engineFlags;

  @Option(
      names = "--url",
      paramLabel = "URL",
      description = "A running server (http://host:port) instead of one in process.")
  URI url;

  @Option(names = "--api-key", description = "Bearer key for --url.")
  String apiKey;

  @Option(names = "--clients", defaultValue = "500", description = "Closed-loop clients.")
  int clients;

  @Option(
      names = "--duration",
      defaultValue = "10m",
      converter = SoakDuration.class,
      description = "How long the load runs: 90s, 10m, 1h (default: ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(
      names = "--interval",
      defaultValue = "1m",
      converter = SoakDuration.class,
      description = "One table row per interval (default: ${DEFAULT-VALUE}).")
  Duration interval;

  @Option(
      names = "--cancel-share",
      defaultValue = "0.1",
      description = "Share of sampled requests the client cancels or hangs up part way.")
  double cancelShare;

  @Option(
      names = "--check-share",
      defaultValue = "0.1",
      description = "Share of requests that are greedy checks against a reference answer.")
  double checkShare;

  @Option(
      names = "--image-share",
      defaultValue = "0.3",
      description = "Share of requests with a generated PNG.")
  double imageShare;

  @Option(names = "--max-tokens", defaultValue = "64", description = "Longest answer.")
  int maxTokens;

  @Option(names = "--prompt-words", defaultValue = "24", description = "Words per prompt.")
  int promptWords;

  @Option(names = "--check-prompts", defaultValue = "8", description = "Distinct check prompts.")
  int checkPrompts;

  @Option(names = "--batch-size", defaultValue = "8", description = "Requests per batch job.")
  int batchSize;

  @Option(
      names = "--batch-every",
      defaultValue = "30s",
      converter = SoakDuration.class,
      description = "Time between batch-job submissions; 0 = no batch jobs.")
  Duration batchEvery;

  @Option(
      names = "--request-timeout",
      defaultValue = "5m",
      converter = SoakDuration.class,
      description = "Longest a request may take before it counts as a timeout.")
  Duration requestTimeout;

  @Option(
      names = "--drain-timeout",
      defaultValue = "2m",
      converter = SoakDuration.class,
      description =
          "After the load: how long requests and batch jobs may take to end and the"
              + " server to go idle.")
  Duration drainTimeout;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the prompts and the mix.")
  long seed;

  @Spec CommandSpec spec;

  private volatile boolean stopping;
  private final AtomicLong drainEnd = new AtomicLong(Long.MAX_VALUE);

  @Override
  public Integer call() throws Exception {
    validate();
    PrintWriter out = spec.commandLine().getOut();
    Settings s = model.settings().with(engineFlags.flags());
    int batchInFlight = Math.max(1, Math.min(batchSize, 8));
    Path data = Files.createTempDirectory("llava-soak");
    try (ServingStack stack =
        url == null
            ? ServingStack.bind(
                ServingConfig.inProcessServer(s).toBuilder()
                    .batch(new BatchConfig(data, batchInFlight, 1L << 30))
                    .build())
            : ServingStack.inProcess()) {
      URI base = url;
      String where = "";
      if (url == null) {
        Path dir = model.resolve().toAbsolutePath().normalize();
        String id = dir.getFileName().toString();
        stack
            .load(dir, ServingConfig.model(s))
            .startEngine(
                ServingConfig.forConcurrency(ServingConfig.engine(s), clients + batchInFlight))
            .serve(id, ServingConfig.media(s));
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
          "load: %d clients for %s; SSE, WebSocket and plain JSON chat%s; %.0f%% with an image,"
              + " %.0f%% greedy checks over %d prompts, %.0f%% of the rest cancelled or"
              + " disconnected part way; answers up to %d tokens (EOS ignored)%n",
          clients,
          SoakDuration.format(duration),
          batchEvery.isZero()
              ? ""
              : String.format(
                  ", a batch job of %d every %s", batchSize, SoakDuration.format(batchEvery)),
          100 * imageShare,
          100 * checkShare,
          checkPrompts,
          100 * cancelShare,
          maxTokens);
      out.flush();
      SoakStats stats = new SoakStats();
      SoakChecks checks = new SoakChecks(seed, promptWords, checkPrompts, imageShare > 0);
      List<SoakClient.Wire> wires = wires(http, base, out);
      SoakClient.Load load =
          new SoakClient.Load(
              http,
              base,
              apiKey,
              requestTimeout,
              wires,
              maxTokens,
              promptWords,
              checkShare,
              cancelShare,
              imageShare,
              checks,
              stats);
      if (!references(load, out)) {
        out.println("verdict: FAIL (the reference answers could not be taken)");
        out.flush();
        return 1;
      }
      SoakReport report = new SoakReport(out, http, base, duration, interval);
      boolean pass = run(load, data, report, out);
      out.flush();
      return pass ? 0 : 1;
    } finally {
      try (var files = Files.walk(data)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private void validate() {
    if (clients < 1 || maxTokens < 2 || promptWords < 1 || checkPrompts < 1 || batchSize < 1) {
      throw new IllegalArgumentException(
          "need clients >= 1, max-tokens >= 2, prompt-words >= 1, check-prompts >= 1,"
              + " batch-size >= 1");
    }
    for (double share : new double[] {cancelShare, checkShare, imageShare}) {
      if (share < 0 || share > 1) {
        throw new IllegalArgumentException("shares must be in [0, 1], got " + share);
      }
    }
    if (duration.isZero() || interval.isZero() || requestTimeout.isZero()) {
      throw new IllegalArgumentException("duration, interval and request-timeout must be > 0");
    }
  }

  /** SSE and JSON always; WebSocket where the server has {@code /v1/ws}. */
  private List<SoakClient.Wire> wires(HttpClient http, URI base, PrintWriter out) throws Exception {
    List<SoakClient.Wire> wires = new ArrayList<>(List.of(SoakClient.Wire.SSE));
    try {
      WsBenchClient.connect(http, base, apiKey, requestTimeout).close();
      wires.add(SoakClient.Wire.WS);
    } catch (WsBenchClient.NotAvailable e) {
      out.println(e.getMessage());
    }
    wires.add(SoakClient.Wire.JSON);
    return wires;
  }

  /** Each check prompt alone over each wire, one at a time; false (printed) when that failed. */
  private boolean references(SoakClient.Load load, PrintWriter out) throws Exception {
    SoakClient alone = new SoakClient(load, -1, seed, () -> true);
    SoakChecks checks = load.checks();
    for (SoakClient.Wire wire : load.wires()) {
      for (int i = 0; i < checks.prompts().size(); i++) {
        BenchStats.Trace t = alone.reference(wire, i);
        if (t.error() != null || t.tokenEvents() == 0) {
          out.printf("reference answer %d over %s failed: %s%n", i, wire, t.error());
          return false;
        }
        checks.reference(wire, i, t);
      }
    }
    alone.run(); // closes its socket; stop is already true
    List<String> disagree = checks.disagreements();
    disagree.forEach(out::println);
    out.printf(
        "reference answers: %d check prompts alone over %s%s%n%n",
        checks.prompts().size(), load.wires(), disagree.isEmpty() ? ", the wires agree" : "");
    out.flush();
    return disagree.isEmpty();
  }

  /** The load, the table, the drain and the verdict; true on PASS. */
  private boolean run(SoakClient.Load load, Path data, SoakReport report, PrintWriter out)
      throws Exception {
    List<Thread> threads = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      threads.add(
          new Thread(null, new SoakClient(load, c, seed, () -> stopping), "soak-" + c, 512 << 10));
    }
    Thread batches =
        batchEvery.isZero()
            ? null
            : new Thread(
                new SoakBatches(
                    load, data, batchSize, batchEvery, seed, () -> stopping, drainEnd::get, out),
                "soak-batches");
    report.start();
    threads.forEach(Thread::start);
    if (batches != null) {
      batches.start();
    }
    report.rows(load.stats());
    stopping = true;
    long drainStart = System.nanoTime();
    drainEnd.set(drainStart + drainTimeout.toNanos());
    int hung = 0;
    for (Thread t : threads) {
      t.join(Math.max(1, (drainEnd.get() - System.nanoTime()) / 1_000_000));
      hung += t.isAlive() ? 1 : 0;
    }
    if (batches != null) {
      batches.join(Math.max(1, (drainEnd.get() - System.nanoTime()) / 1_000_000));
      hung += batches.isAlive() ? 1 : 0;
    }
    threads.forEach(Thread::interrupt); // what still hangs gives up now
    if (batches != null) {
      batches.interrupt();
    }
    return report.verdict(load.stats(), hung, drainEnd.get());
  }
}
