package io.llavaserve.web.cluster;

import io.llavaserve.web.FreePorts;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One node of a test cluster as a child JVM: {@code llava-serve serve --cluster} on loopback, as a
 * user starts it, its output in a log file under the test's folder. {@link #kill} is {@code kill
 * -9} (SIGKILL: no shutdown hook, no leaving the cluster); {@link #close} kills it too, so a test
 * that fails leaves no process behind. Every wait here is bounded.
 */
final class NodeProcess implements AutoCloseable {

  /** Heartbeats every 200 ms; an engine not heard from for 1 s is gone. */
  static final Map<String, String> FAST_TIMINGS =
      Map.of(
          "LLAVA_SERVE_CLUSTER_HEARTBEAT_MS",
          "200",
          "LLAVA_SERVE_CLUSTER_ENGINE_TIMEOUT_MS",
          "1000");

  private static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(2))
          .build();

  final String name;
  final int httpPort;
  final int clusterPort;
  final Path log;
  private final Process process;

  private NodeProcess(String name, int httpPort, int clusterPort, Path log, Process process) {
    this.name = name;
    this.httpPort = httpPort;
    this.clusterPort = clusterPort;
    this.log = log;
    this.process = process;
  }

  /**
   * Starts a node; returns at once (see {@link #awaitReady}).
   *
   * @param role {@code gateway}, {@code engine} or {@code both}
   * @param members the cluster ports of the members to join on 127.0.0.1
   * @param model the checkpoint of an engine; null for a gateway
   * @param env more settings, as {@code LLAVA_SERVE_...} variables
   */
  static NodeProcess start(
      String name,
      Path dir,
      String role,
      int httpPort,
      int clusterPort,
      List<Integer> members,
      Path model,
      Map<String, String> env)
      throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> command = new ArrayList<>();
    command.add(java);
    command.add("-Xmx768m");
    command.add("-XX:+UseSerialGC");
    command.add("-XX:TieredStopAtLevel=1"); // C1 only: a short-lived node starts faster on 2 cores
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add("io.llavaserve.cli.Main");
    command.add("serve");
    command.add("--host");
    command.add("127.0.0.1");
    command.add("--port");
    command.add(Integer.toString(httpPort));
    command.add("--cluster");
    command.add("--role");
    command.add(role);
    command.add("--cluster-members");
    command.add(String.join(",", members.stream().map(p -> "127.0.0.1:" + p).toList()));
    if (model != null) {
      command.addAll(List.of("--model", model.toString(), "--kv-cache-mb", "32", "--threads", "1"));
    }
    ProcessBuilder pb = new ProcessBuilder(command);
    Map<String, String> vars = new HashMap<>(FAST_TIMINGS);
    vars.put("LLAVA_SERVE_CLUSTER_PORT", Integer.toString(clusterPort));
    vars.put("LLAVA_SERVE_HOME", dir.resolve("home-" + name).toString());
    vars.put("LLAVA_SERVE_BATCH_DATA_DIR", dir.resolve("data-" + name).toString());
    vars.putAll(env);
    pb.environment().putAll(vars);
    Files.createDirectories(dir);
    Path log = dir.resolve(name + "-" + System.nanoTime() + ".log");
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return new NodeProcess(name, httpPort, clusterPort, log, pb.start());
  }

  String url(String path) {
    return "http://127.0.0.1:" + httpPort + path;
  }

  /** Waits until {@code /ready} answers 200; fails with the log's tail when the node died. */
  void awaitReady(Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new AssertionError(name + " exited with " + process.exitValue() + ":\n" + tail());
      }
      try {
        if (get("/ready").statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new AssertionError(name + " was not ready in " + timeout + ":\n" + tail());
  }

  HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create(url(path)))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /**
   * The sum of the {@code /metrics} samples whose lines start with {@code prefix} (every label set
   * of a series); NaN when there is none.
   */
  double metric(String prefix) throws IOException, InterruptedException {
    double sum = Double.NaN;
    for (String line : get("/metrics").body().split("\n")) {
      if (line.startsWith(prefix)) {
        double v = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        sum = Double.isNaN(sum) ? v : sum + v;
      }
    }
    return sum;
  }

  boolean alive() {
    return process.isAlive();
  }

  /**
   * Sends {@code signal} ({@code STOP} freezes the node as a long pause would, {@code CONT} lets it
   * go on) with {@code kill}.
   */
  void signal(String signal) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start();
    if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
      throw new AssertionError("kill -" + signal + " " + process.pid() + " failed");
    }
  }

  /** SIGKILL, and waits (up to 10 s) for the process to be gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      throw new AssertionError(name + " (pid " + process.pid() + ") outlived SIGKILL by 10 s");
    }
  }

  /** The last lines of the node's log, for a failure message. */
  String tail() {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  @Override
  public void close() {
    process.destroyForcibly();
    try {
      process.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static int freePort() throws IOException {
    return FreePorts.next();
  }
}
