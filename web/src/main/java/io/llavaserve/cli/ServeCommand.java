package io.llavaserve.cli;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.web.LlavaServer;
import io.llavaserve.web.ServerConfig;
import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.RequestLimits;
import io.llavaserve.web.openai.ServedModel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Loads the model, starts the engine and serves the OpenAI-compatible API until SIGTERM, which
 * drains running requests (up to {@code server.drain-timeout-seconds}) before exiting.
 */
@Command(name = "serve", description = "Serve the OpenAI-compatible HTTP API.")
final class ServeCommand implements Callable<Integer> {

  static final String EMBEDDED_MODEL_ID = "llava-serve-tiny";

  @Mixin ModelOption model;

  @Option(names = "--host", paramLabel = "ADDR", description = "Interface to bind (server.host).")
  String host;

  @Option(names = "--port", paramLabel = "N", description = "TCP port (server.port).")
  Integer port;

  @Option(
      names = "--api-key",
      paramLabel = "KEY",
      split = ",",
      description = "Accepted bearer key, repeatable (server.api-keys).")
  List<String> apiKeys;

  @Option(
      names = "--served-model-name",
      paramLabel = "ID",
      description = "Model id clients use (model.served-name).")
  String servedName;

  @Option(
      names = "--max-num-seqs",
      paramLabel = "N",
      description = "Sequences per step (scheduler.max-num-seqs).")
  Integer maxNumSeqs;

  @Option(
      names = "--max-num-batched-tokens",
      paramLabel = "N",
      description = "Tokens per step (scheduler.max-num-batched-tokens).")
  Integer maxNumBatchedTokens;

  @Option(
      names = "--max-waiting-requests",
      paramLabel = "N",
      description = "Queue limit before 429 (scheduler.max-waiting-requests).")
  Integer maxWaitingRequests;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Settings s = model.settings();
    ServerConfig config = serverConfig(s);
    EngineConfig engineConfig = engineConfig(s);
    Path dir = model.resolve();
    String id = modelId(s, dir);
    // Bind first: while the model loads, /health answers 200 and /ready and the API 503.
    LlavaServer server = LlavaServer.bind(config);
    out.printf("listening on http://%s:%d; loading %s%n", config.host(), server.port(), dir);
    out.flush();
    LlavaModel m;
    try {
      m = LlavaModel.load(dir, model.options());
    } catch (Exception e) {
      server.close();
      throw e;
    }
    LlavaEngine engine = LlavaEngine.start(m, engineConfig);
    try {
      server.serve(new ServedModel(id, m, engine), MediaConfig.fromSettings(s::optional));
    } catch (Exception e) {
      server.close();
      engine.close();
      m.close();
      throw e;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.drain();
                  m.close();
                  stopped.countDown();
                },
                "llava-serve-drain"));
    out.printf(
        "serving %s on http://%s:%d (model loaded in %.1f s; %s matmuls%s, %s KV cache of %d"
            + " tokens, %s attention)%n",
        id,
        config.host(),
        server.port(),
        m.loadMillis() / 1000.0,
        m.options().matmulPrecision().name().toLowerCase(java.util.Locale.ROOT),
        m.runner().nativeMatMul() ? " (native)" : "",
        m.runner().kvCache().dtype().name().toLowerCase(java.util.Locale.ROOT),
        m.runner().kvCache().capacityTokens(),
        m.runner().nativeAttention() ? "native" : "graph");
    out.flush();
    stopped.await();
    return 0;
  }

  ServerConfig serverConfig(Settings s) {
    List<String> keys =
        apiKeys != null ? apiKeys : Arrays.asList(s.string("server.api-keys").split(","));
    return new ServerConfig(
        host != null ? host : s.string("server.host"),
        port != null ? port : s.intValue("server.port"),
        keys,
        s.longValue("server.max-body-bytes"),
        s.intValue("server.drain-timeout-seconds"),
        limits(s),
        s.intValue("server.ws-max-requests-per-socket"),
        batchConfig(s));
  }

  static BatchConfig batchConfig(Settings s) {
    String dir = s.string("batch.data-dir");
    Path dataDir;
    if (!dir.isEmpty()) {
      dataDir = Path.of(dir);
    } else {
      String home = System.getenv("LLAVA_SERVE_HOME");
      dataDir =
          (home != null && !home.isBlank()
                  ? Path.of(home)
                  : Path.of(System.getProperty("user.home"), ".cache", "llava-serve"))
              .resolve("data");
    }
    return new BatchConfig(
        dataDir, s.intValue("batch.max-in-flight"), s.longValue("batch.max-file-bytes"));
  }

  EngineConfig engineConfig(Settings s) {
    return engineConfig(s, maxNumSeqs, maxNumBatchedTokens, maxWaitingRequests);
  }

  static RequestLimits limits(Settings s) {
    return new RequestLimits(
        s.intValue("limits.max-images-per-request"),
        s.intValue("limits.max-tokens"),
        s.intValue("limits.max-prompt-tokens"));
  }

  /** The engine configuration from the settings, each non-null argument overriding its key. */
  static EngineConfig engineConfig(
      Settings s, Integer maxNumSeqs, Integer maxNumBatchedTokens, Integer maxWaitingRequests) {
    SchedulerConfig sc =
        SchedulerConfig.defaults()
            .withMaxNumBatchedTokens(
                maxNumBatchedTokens != null
                    ? maxNumBatchedTokens
                    : s.intValue("scheduler.max-num-batched-tokens"))
            .withMaxNumSeqs(maxNumSeqs != null ? maxNumSeqs : s.intValue("scheduler.max-num-seqs"))
            .withWaitingLimits(
                maxWaitingRequests != null
                    ? maxWaitingRequests
                    : s.intValue("scheduler.max-waiting-requests"),
                s.longValue("scheduler.max-waiting-tokens"));
    return new EngineConfig(
        sc, s.bool("engine.prefix-caching"), s.longValue("engine.image-cache-mb") << 20);
  }

  private String modelId(Settings s, Path dir) {
    if (servedName != null && !servedName.isBlank()) {
      return servedName;
    }
    String configured = s.string("model.served-name");
    if (!configured.isEmpty()) {
      return configured;
    }
    boolean embedded = model.model == null && s.string("model.path").isEmpty();
    return embedded ? EMBEDDED_MODEL_ID : dir.toAbsolutePath().normalize().getFileName().toString();
  }
}
