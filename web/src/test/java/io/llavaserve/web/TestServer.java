package io.llavaserve.web;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.cli.ServingStack;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.checkpoint.ToolTemplate;
import io.llavaserve.engine.prompt.ToolCallParser;
import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.batchjobs.DataDisk;
import io.llavaserve.web.cluster.ClusterConfig;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.RequestLimits;
import io.llavaserve.web.openai.ServedModel;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.function.Predicate;
import javax.imageio.ImageIO;

/**
 * The one fixture of the server tests: a real server on the tiny model, on a free port, built and
 * closed by the launcher's own composition root ({@link ServingStack}), with a plain HTTP client.
 * {@link #on} starts from the common setup; each test changes only what it is about.
 */
public final class TestServer implements AutoCloseable {

  static final String MODEL_ID = "tiny-test";

  private final ServingStack stack;
  final LlavaEngine engine;
  final LlavaServer server;

  /**
   * HTTP/1.1, as curl and the SDKs speak to an http:// URL: the JDK client's default h2c upgrade
   * let a request to a busy gateway wait past its timeout on a stalled upgraded connection.
   */
  public final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  private TestServer(ServingStack stack) {
    this.stack = stack;
    this.engine = stack.engine();
    this.server = stack.server();
  }

  /** The common server configuration: loopback, a free port, 1 MiB bodies, small limits. */
  static ServerConfig.Builder config() {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .maxBodyBytes(1 << 20)
        .drainTimeoutSeconds(5)
        .limits(new RequestLimits(2, 512, 2048));
  }

  /** The tiny checkpoint, written under {@code dir} once. */
  static Path checkpoint(Path dir) throws IOException {
    return checkpoint(dir, "tiny", TinySpec.tiny());
  }

  /** The checkpoint of {@code spec}, written under {@code dir/name} once. */
  static Path checkpoint(Path dir, String name, TinySpec spec) throws IOException {
    Path ckpt = dir.resolve(name);
    if (!Files.exists(ckpt.resolve("config.json"))) {
      TinyCheckpoint.write(ckpt, spec);
    }
    return ckpt;
  }

  /** A server's state once it serves: for transports driven without a server around them. */
  public static ServerState readyState() {
    ServerState state = new ServerState();
    state.ready();
    return state;
  }

  /** A server over the tiny model written under {@code dir}, set up as {@link Builder} says. */
  public static Builder on(Path dir) {
    return new Builder(dir);
  }

  /** The common server over the tiny model written under {@code dir}. */
  static TestServer start(Path dir) throws Exception {
    return on(dir).start();
  }

  /** What differs from the common setup. */
  public static final class Builder {
    private final Path dir;
    private final ServerConfig.Builder config = config();
    private SchedulerConfig scheduler = SchedulerConfig.defaults();
    private MediaConfig media = MediaConfig.defaults();
    private String modelId = MODEL_ID;
    private String checkpointName = "tiny";
    private TinySpec spec = TinySpec.tiny();
    private ToolTemplate toolTemplate;
    private ToolCallParser toolCallParser = ToolCallParser.AUTO;

    private Builder(Path dir) {
      this.dir = dir;
    }

    /** Accepted bearer keys (default: none, no authentication). */
    public Builder apiKeys(String... keys) {
      config.apiKeys(List.of(keys));
      return this;
    }

    public Builder limits(RequestLimits limits) {
      config.limits(limits);
      return this;
    }

    public Builder wsMaxRequestsPerSocket(int n) {
      config.wsMaxRequestsPerSocket(n);
      return this;
    }

    /** Connection, header and timeout limits (default: {@link HttpLimits#defaults()}). */
    public Builder http(HttpLimits limits) {
      config.http(limits);
      return this;
    }

    /** Origins allowed to call the API from a browser (default: none, CORS off). */
    public Builder corsAllowedOrigins(String... origins) {
      config.corsAllowedOrigins(List.of(origins));
      return this;
    }

    /** HTTP front ends (default 0: one per event loop). */
    public Builder instances(int n) {
      config.instances(n);
      return this;
    }

    public Builder scheduler(SchedulerConfig scheduler) {
      this.scheduler = scheduler;
      return this;
    }

    public Builder media(MediaConfig media) {
      this.media = media;
      return this;
    }

    /** Batch jobs on, keeping their data in {@code dataDir}. */
    public Builder batches(Path dataDir, int maxInFlight) {
      return batches(dataDir, maxInFlight, DataDisk.NIO);
    }

    /** Batch jobs on, keeping their data in {@code dataDir}, written through {@code disk}. */
    public Builder batches(Path dataDir, int maxInFlight, DataDisk disk) {
      config.batch(BatchConfig.in(dataDir).withMaxInFlight(maxInFlight).withDisk(disk));
      return this;
    }

    /** A node of a cluster (default: a single node). */
    public Builder cluster(ClusterConfig cluster) {
      config.cluster(cluster);
      return this;
    }

    /**
     * Serves the checkpoint of {@code spec}, written under {@code name} (default: the tiny one).
     */
    public Builder checkpoint(String name, TinySpec spec) {
      this.checkpointName = name;
      this.spec = spec;
      return this;
    }

    /**
     * The checkpoint carries a real tool-calling chat template (and its special tokens) in place of
     * its own (default: none).
     */
    public Builder toolTemplate(ToolTemplate template) {
      this.toolTemplate = template;
      return this;
    }

    /** How answers are read for tool calls (default: decided from the checkpoint). */
    public Builder toolCallParser(ToolCallParser parser) {
      this.toolCallParser = parser;
      return this;
    }

    /** The id the model is served as (default {@link #MODEL_ID}). */
    public Builder modelId(String id) {
      modelId = id;
      return this;
    }

    /** A cluster gateway: no model; its requests go to the cluster's engines. */
    public TestServer startGateway() throws Exception {
      ServingStack stack = ServingStack.bind(config.build());
      try {
        stack.serveGateway();
      } catch (Exception e) {
        stack.close();
        throw e;
      }
      return new TestServer(stack);
    }

    private Path checkpoint() throws IOException {
      if (toolTemplate == null) {
        return TestServer.checkpoint(dir, checkpointName, spec);
      }
      Path ckpt = dir.resolve(checkpointName + "-" + toolTemplate.label());
      if (!Files.exists(ckpt.resolve("config.json"))) {
        TinyCheckpoint.write(ckpt, spec);
        toolTemplate.applyTo(ckpt);
      }
      return ckpt;
    }

    public TestServer start() throws Exception {
      ServingStack stack = ServingStack.bind(config.build());
      try {
        stack
            .load(
                checkpoint(),
                ModelOptions.builder()
                    .kvCacheBytes(32L << 20)
                    .toolCallParser(toolCallParser)
                    .build())
            .startEngine(EngineConfig.defaults().withScheduler(scheduler))
            .serve(modelId, media);
      } catch (Exception e) {
        stack.close();
        throw e;
      }
      return new TestServer(stack);
    }
  }

  ServedModel served() {
    return server.served();
  }

  public int port() {
    return server.port();
  }

  public String url(String path) {
    return "http://127.0.0.1:" + server.port() + path;
  }

  public HttpResponse<String> post(String path, String body, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url(path)))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (headers.length > 0) {
      b.headers(headers);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  public HttpResponse<String> get(String path, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(30)).GET();
    if (headers.length > 0) {
      b.headers(headers);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /**
   * Waits until the engine runs and queues nothing, holds no KV block, and the server counts no
   * request in flight: every event of every request has been emitted and handled, so nothing that
   * follows from them can still change. Returns the engine's stats at that point.
   *
   * @throws AssertionError when it does not settle within 10 s
   */
  public EngineStats awaitIdle() throws InterruptedException {
    return awaitStats(
        st -> st.running() == 0 && st.waiting() == 0 && st.kvBlocksUsed() == 0,
        "the engine and server to be idle");
  }

  /** Polls the engine's stats (published after every step) until {@code done} holds. */
  EngineStats awaitStats(Predicate<EngineStats> done, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      EngineStats st = engine.stats();
      if (done.test(st) && server.state().inFlight() == 0) {
        return st;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "waited 10 s for " + what + ": " + st + ", in flight " + server.state().inFlight());
      }
      Thread.sleep(5);
    }
  }

  /** A small gradient PNG as a data URI. */
  public static String pngDataUri(int width, int height) throws IOException {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        img.setRGB(x, y, new Color((x * 7) % 256, (y * 11) % 256, 90).getRGB());
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return "data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
  }

  /** The graceful stop of SIGTERM: running requests finish, then everything closes. */
  void drain() {
    stack.drain();
  }

  @Override
  public void close() {
    stack.close();
  }
}
