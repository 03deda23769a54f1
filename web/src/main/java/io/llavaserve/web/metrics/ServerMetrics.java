package io.llavaserve.web.metrics;

import io.llavaserve.batching.engine.EngineStats;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Objects;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The server's Prometheus metrics, named as vLLM names them ({@code vllm:num_requests_running},
 * {@code vllm:time_to_first_token_seconds}, ...) so existing vLLM dashboards work, plus {@code
 * llava:} series for what vLLM lacks (image cache, KV blocks, tokens per second), the JVM's, and
 * the process's resident memory ({@code process_resident_memory_bytes}, as Prometheus clients name
 * it).
 *
 * <p>Engine gauges and counters are read from an {@link EngineStats} snapshot taken once per {@link
 * #scrape()}; request histograms are fed by one {@link RequestTimer} per request. Micrometer's
 * Prometheus naming keeps ':' (legal in Prometheus names), appends {@code _total} to counters and
 * {@code _seconds} to timers, so meters are registered under the bare vLLM stems.
 */
public final class ServerMetrics implements AutoCloseable {

  /** The {@code Content-Type} of {@link #scrape()}: Prometheus text exposition 0.0.4. */
  public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  static final int TOKEN_RATE_WINDOW_SECONDS = 10;

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Supplier<EngineStats> stats;
  private final Tags model;
  private final String modelLabel; // model name escaped for the text format
  private final LongSupplier nanoTime;
  private final TokenRate tokenRate;
  private final JvmGcMetrics gcMetrics = new JvmGcMetrics();
  private volatile EngineStats snapshot;

  final Timer timeToFirstToken;
  final Timer timePerOutputToken;
  final Timer e2eLatency;
  final Timer queueTime;
  final DistributionSummary promptTokensPerRequest;
  final DistributionSummary generationTokensPerRequest;
  final Counter promptTokens;
  final Counter generationTokens;
  final Counter cachedPromptTokens;

  /**
   * @param stats the engine's latest snapshot, e.g. {@code engine::stats}; read at scrape time
   * @param modelName the value of the {@code model_name} label
   */
  public ServerMetrics(Supplier<EngineStats> stats, String modelName) {
    this(stats, modelName, System::nanoTime);
  }

  ServerMetrics(Supplier<EngineStats> stats, String modelName, LongSupplier nanoTime) {
    this.stats = Objects.requireNonNull(stats, "stats");
    this.model = Tags.of("model_name", Objects.requireNonNull(modelName, "modelName"));
    this.modelLabel = modelName.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    this.nanoTime = nanoTime;
    this.tokenRate = new TokenRate(TOKEN_RATE_WINDOW_SECONDS, nanoTime);
    this.snapshot = stats.get();

    gauge("vllm:num_requests_running", "Requests admitted by the scheduler", s -> s.running());
    gauge("vllm:num_requests_waiting", "Requests waiting for admission", s -> s.waiting());
    gauge("vllm:gpu_cache_usage_perc", "KV cache usage, 1 = full", EngineStats::kvUsage);
    gauge("llava:kv_blocks_used", "KV blocks referenced by live sequences", s -> s.kvBlocksUsed());
    gauge(
        "llava:prefix_cache_hit_rate",
        "Prompt tokens found in the prefix cache / looked up, since start",
        EngineStats::prefixHitRate);
    gauge(
        "llava:image_cache_hit_rate",
        "Images whose features came from the cache / all images, since start",
        s -> ratio(s.imageCacheHits(), s.imageCacheHits() + s.imageCacheMisses()));
    counter(
        "vllm:prefix_cache_queries",
        "Prompt tokens looked up in the prefix cache",
        s -> s.prefixQueryTokens());
    counter(
        "vllm:prefix_cache_hits",
        "Prompt tokens found in the prefix cache",
        s -> s.prefixHitTokens());
    counter(
        "llava:image_cache_hits",
        "Images whose features came from the cache",
        s -> s.imageCacheHits());
    counter(
        "llava:image_cache_misses",
        "Images that needed the vision tower",
        s -> s.imageCacheMisses());
    counter("vllm:num_preemptions", "Sequences preempted", s -> s.preemptions());
    Gauge.builder("llava:generation_tokens_per_second", tokenRate, TokenRate::perSecond)
        .description("Generated tokens per second over the last 10 s")
        .tags(model)
        .strongReference(true)
        .register(registry);

    promptTokens = tokens("vllm:prompt_tokens", "Prompt tokens of finished requests");
    generationTokens = tokens("vllm:generation_tokens", "Generated tokens of finished requests");
    cachedPromptTokens =
        tokens("llava:cached_prompt_tokens", "Prompt tokens served from the prefix cache");

    timeToFirstToken = timer("vllm:time_to_first_token", "Time to first token", Buckets.TTFT);
    timePerOutputToken =
        timer("vllm:time_per_output_token", "Time between output tokens", Buckets.INTER_TOKEN);
    e2eLatency =
        timer("vllm:e2e_request_latency", "End-to-end request latency", Buckets.REQUEST_SECONDS);
    queueTime =
        timer(
            "vllm:request_queue_time",
            "Time waiting before being scheduled",
            Buckets.REQUEST_SECONDS);
    promptTokensPerRequest =
        summary("vllm:request_prompt_tokens", "Prompt tokens per finished request");
    generationTokensPerRequest =
        summary("vllm:request_generation_tokens", "Generated tokens per finished request");

    Gauge.builder("process_resident_memory_bytes", ResidentMemory::bytes)
        .description("Resident set size of the server process (VmRSS), bytes")
        .strongReference(true)
        .register(registry);
    new JvmMemoryMetrics().bindTo(registry);
    gcMetrics.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
  }

  /** Prometheus text exposition (version 0.0.4, {@link #CONTENT_TYPE}) for {@code GET /metrics}. */
  public String scrape() {
    EngineStats s = stats.get();
    snapshot = s;
    // the Prometheus client drops a "_total" suffix from gauge names, so this one is written here
    return registry.scrape()
        + "# HELP llava:kv_blocks_total KV blocks in the pool\n"
        + "# TYPE llava:kv_blocks_total gauge\n"
        + "llava:kv_blocks_total{model_name=\""
        + modelLabel
        + "\"} "
        + (double) s.kvBlocksTotal()
        + "\n";
  }

  /** Starts timing a request; call when the request is accepted (parsed and validated). */
  public RequestTimer startRequest() {
    return new RequestTimer(this, nanoTime);
  }

  /** Counts a request refused before reaching the engine, e.g. {@code "overloaded"}. */
  public void requestRejected(String reason) {
    Counter.builder("llava:requests_rejected")
        .description("Requests refused before reaching the engine")
        .tags(model)
        .tag("reason", reason)
        .register(registry)
        .increment();
  }

  /** The underlying registry, for servers that add meters of their own. */
  public PrometheusMeterRegistry registry() {
    return registry;
  }

  @Override
  public void close() {
    gcMetrics.close();
    registry.close();
  }

  void finished(String reason) {
    Counter.builder("vllm:request_success")
        .description("Finished requests, by finish reason")
        .tags(model)
        .tag("finished_reason", reason)
        .register(registry)
        .increment();
  }

  void tokensGenerated(int n) {
    tokenRate.add(n);
  }

  /**
   * Exports {@code llava:kernels} = 1 with the model's kernel choices as labels ({@code matmul},
   * {@code attention}, {@code cpu_path}; see {@code LlavaModel.kernels()}), as vLLM exports its
   * configuration in {@code *_info} gauges.
   */
  public void kernels(java.util.Map<String, String> kernels) {
    Tags tags = model;
    for (java.util.Map.Entry<String, String> e : kernels.entrySet()) {
      tags = tags.and(e.getKey(), e.getValue());
    }
    Gauge.builder("llava:kernels", () -> 1)
        .description("The kernels this model runs, by part, as labels; always 1")
        .tags(tags)
        .strongReference(true)
        .register(registry);
  }

  private void gauge(String name, String help, ToDoubleFunction<EngineStats> read) {
    Gauge.builder(name, this, m -> read.applyAsDouble(m.snapshot))
        .description(help)
        .tags(model)
        .strongReference(true)
        .register(registry);
  }

  private void counter(String name, String help, ToDoubleFunction<EngineStats> read) {
    FunctionCounter.builder(name, this, m -> read.applyAsDouble(m.snapshot))
        .description(help)
        .tags(model)
        .register(registry);
  }

  private Counter tokens(String name, String help) {
    return Counter.builder(name).description(help).tags(model).register(registry);
  }

  private Timer timer(String name, String help, double[] bucketSeconds) {
    return Timer.builder(name)
        .description(help)
        .tags(model)
        .serviceLevelObjectives(Buckets.durations(bucketSeconds))
        .register(registry);
  }

  private DistributionSummary summary(String name, String help) {
    return DistributionSummary.builder(name)
        .description(help)
        .tags(model)
        .serviceLevelObjectives(Buckets.TOKENS)
        .register(registry);
  }

  private static double ratio(long part, long whole) {
    return whole == 0 ? 0 : (double) part / whole;
  }
}
