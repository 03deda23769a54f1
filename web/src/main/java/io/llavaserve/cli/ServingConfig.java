package io.llavaserve.cli;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImageLimits;
import io.llavaserve.engine.prompt.ToolCallParser;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.web.HttpLimits;
import io.llavaserve.web.ServerConfig;
import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.cluster.ClusterConfig;
import io.llavaserve.web.cluster.NodeRole;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.RequestLimits;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Every record the launcher runs with, mapped from the layered {@link Settings} in this one place:
 * each key of {@code conf/llava-serve.properties} becomes a field here, and no command reads a key
 * itself. Flags reach these records as a layer of the settings, so a flag and its key can never
 * disagree.
 *
 * @param modelPath checkpoint folder ({@code model.path}); empty = the embedded model
 * @param servedName model id clients use ({@code model.served-name}); empty = derived
 * @param model how the model loads
 * @param engine how the serving core runs it
 * @param server how the HTTP front end listens and what it accepts
 * @param media how image URLs in requests are fetched
 */
record ServingConfig(
    String modelPath,
    String servedName,
    ModelOptions model,
    EngineConfig engine,
    ServerConfig server,
    MediaConfig media) {

  /** The id clients name the embedded model by. */
  static final String EMBEDDED_MODEL_ID = "llava-serve-shapes";

  static ServingConfig from(Settings s) {
    return new ServingConfig(
        s.string("model.path"),
        s.string("model.served-name"),
        model(s),
        engine(s),
        server(s),
        media(s));
  }

  /** The model id: the served name, else the embedded model's id, else the folder's name. */
  String modelId(Path dir) {
    if (!servedName.isEmpty()) {
      return servedName;
    }
    return modelPath.isEmpty()
        ? EMBEDDED_MODEL_ID
        : dir.toAbsolutePath().normalize().getFileName().toString();
  }

  static ModelOptions model(Settings s) {
    long mb = s.longValue("model.kv-cache-mb");
    if (mb <= 0) {
      throw new IllegalArgumentException("kv-cache-mb must be > 0, got " + mb);
    }
    int threads = s.intValue("model.threads");
    if (threads < 0) {
      throw new IllegalArgumentException("threads must be >= 0, got " + threads);
    }
    TfModelRunner.Threads sessionThreads = TfModelRunner.Threads.defaults();
    if (threads > 0) {
      sessionThreads = new TfModelRunner.Threads(threads, sessionThreads.interOp());
    }
    return ModelOptions.builder()
        .kvCacheBytes(mb << 20)
        .blockSize(s.intValue("model.block-size"))
        .threads(sessionThreads)
        .padToSquare(s.bool("model.pad-to-square"))
        .imageLimits(
            new ImageLimits(s.longValue("image.max-bytes"), s.longValue("image.max-pixels")))
        .matmulPrecision(MatmulPrecision.valueOf(upper(s, "model.matmul-precision")))
        .kernels(Kernels.valueOf(upper(s, "model.kernels")))
        .kvCacheDtype(KvCacheConfig.Dtype.valueOf(upper(s, "model.kv-cache-dtype")))
        .quantization(quantization(s))
        .toolCallParser(toolCallParser(s))
        .int8ActivationRows(int8ActivationRows(s))
        .build();
  }

  /**
   * {@code model.tool-call-parser}: auto, or a parser named as vLLM names it (hermes, llama3_json,
   * mistral, pythonic), or none, in any case.
   */
  static ToolCallParser toolCallParser(Settings s) {
    String v = s.string("model.tool-call-parser");
    return ToolCallParser.ofConfigName(v)
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    "configuration key model.tool-call-parser must be one of "
                        + ToolCallParser.configNames()
                        + ", got \""
                        + v
                        + "\""));
  }

  /**
   * {@code model.int8-activation-rows}: auto (as this CPU's kernels suit the quantization), or 0 or
   * more.
   */
  static int int8ActivationRows(Settings s) {
    if (s.string("model.int8-activation-rows").trim().equalsIgnoreCase("auto")) {
      return ModelOptions.autoInt8ActivationRows(quantization(s));
    }
    int rows = s.intValue("model.int8-activation-rows");
    if (rows < 0) {
      throw new IllegalArgumentException(
          "configuration key model.int8-activation-rows must be auto or >= 0 (0 for never), got "
              + rows);
    }
    return rows;
  }

  /** {@code model.quantization}: none, int8 or int4, in either case. */
  static Quantization quantization(Settings s) {
    String v = s.string("model.quantization");
    for (Quantization q : Quantization.values()) {
      if (q.name().equalsIgnoreCase(v)) {
        return q;
      }
    }
    throw new IllegalArgumentException(
        "configuration key model.quantization must be one of "
            + Arrays.stream(Quantization.values())
                .map(q -> q.name().toLowerCase(Locale.ROOT))
                .toList()
            + ", got \""
            + v
            + "\"");
  }

  static EngineConfig engine(Settings s) {
    SchedulerConfig scheduler =
        SchedulerConfig.defaults()
            .withMaxNumBatchedTokens(s.intValue("scheduler.max-num-batched-tokens"))
            .withMaxNumSeqs(s.intValue("scheduler.max-num-seqs"))
            .withWaitingLimits(
                s.intValue("scheduler.max-waiting-requests"),
                s.longValue("scheduler.max-waiting-tokens"));
    return new EngineConfig(
        scheduler, s.bool("engine.prefix-caching"), s.longValue("engine.image-cache-mb") << 20);
  }

  /** {@code engine} with room for {@code concurrent} sequences in one step, at least. */
  static EngineConfig forConcurrency(EngineConfig engine, int concurrent) {
    SchedulerConfig sc = engine.scheduler();
    return engine.withScheduler(sc.withMaxNumSeqs(Math.max(concurrent, sc.maxNumSeqs())));
  }

  static ServerConfig server(Settings s) {
    return ServerConfig.builder()
        .host(s.string("server.host"))
        .port(s.intValue("server.port"))
        .apiKeys(Arrays.asList(s.string("server.api-keys").split(",")))
        .maxBodyBytes(s.longValue("server.max-body-bytes"))
        .drainTimeoutSeconds(s.intValue("server.drain-timeout-seconds"))
        .limits(limits(s))
        .wsMaxRequestsPerSocket(s.intValue("server.ws-max-requests-per-socket"))
        .instances(s.intValue("server.instances"))
        .batch(batch(s))
        .engineStallSeconds(s.intValue("server.engine-stall-seconds"))
        .cluster(cluster(s))
        .corsAllowedOrigins(Arrays.asList(s.string("server.cors-allowed-origins").split(",")))
        .http(
            new HttpLimits(
                s.intValue("server.max-connections"),
                s.intValue("server.max-header-bytes"),
                s.intValue("server.max-request-line-bytes"),
                s.intValue("server.idle-timeout-seconds"),
                s.intValue("server.request-timeout-seconds"),
                s.intValue("server.api-key-max-concurrent"),
                s.intValue("server.api-key-requests-per-minute")))
        .build();
  }

  /**
   * The server a benchmark runs in process: the settings' body and request limits, on loopback, a
   * free port, with no keys, no drain wait and no batch jobs.
   */
  static ServerConfig inProcessServer(Settings s) {
    return server(s).toBuilder()
        .host("127.0.0.1")
        .port(0)
        .apiKeys(List.of())
        .drainTimeoutSeconds(0)
        .batch(null)
        .cluster(ClusterConfig.off())
        .build();
  }

  static ClusterConfig cluster(Settings s) {
    String rel = s.string("cluster.routing.balance-rel-threshold");
    double relThreshold;
    try {
      relThreshold = Double.parseDouble(rel);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "cluster.routing.balance-rel-threshold must be a number, got " + rel, e);
    }
    return new ClusterConfig(
        s.bool("cluster.enabled"),
        s.string("cluster.host"),
        s.intValue("cluster.port"),
        Arrays.asList(s.string("cluster.members").split(",")),
        s.bool("cluster.multicast"),
        NodeRole.parse(s.string("cluster.role")),
        s.intValue("cluster.routing.balance-abs-threshold"),
        relThreshold,
        s.bool("cluster.routing.cache-aware"),
        s.intValue("cluster.heartbeat-ms"),
        s.intValue("cluster.engine-timeout-ms"));
  }

  static RequestLimits limits(Settings s) {
    return new RequestLimits(
        s.intValue("limits.max-images-per-request"),
        s.intValue("limits.max-tokens"),
        s.intValue("limits.max-prompt-tokens"),
        s.intValue("limits.max-n"));
  }

  /**
   * Batch jobs, their data in {@code batch.data-dir} or else under {@link DefaultModel#cacheBase}.
   */
  static BatchConfig batch(Settings s) {
    String dir = s.string("batch.data-dir");
    Path dataDir = dir.isEmpty() ? DefaultModel.cacheBase().resolve("data") : Path.of(dir);
    return new BatchConfig(
        dataDir, s.intValue("batch.max-in-flight"), s.longValue("batch.max-file-bytes"));
  }

  static MediaConfig media(Settings s) {
    return MediaConfig.fromSettings(s::optional);
  }

  private static String upper(Settings s, String key) {
    return s.string(key).toUpperCase(Locale.ROOT);
  }
}
