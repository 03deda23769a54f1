package io.llavaserve.web.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.llavaserve.batching.engine.EngineStats;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ServerMetricsTest {

  private static final Pattern COMMENT =
      Pattern.compile("# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?");
  private static final Pattern SAMPLE =
      Pattern.compile(
          "([a-zA-Z_:][a-zA-Z0-9_:]*)"
              + "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\]|\\\\.)*\",?)*\\})?"
              + " (-?[0-9.eE+-]+|NaN|\\+Inf|-Inf)( -?[0-9]+)?");
  private static final long MS = 1_000_000L;

  private final AtomicReference<EngineStats> stats = new AtomicReference<>(stats(0, 0, 0, 100));
  private final AtomicLong clock = new AtomicLong(1_000_000 * MS);
  private final ServerMetrics metrics = new ServerMetrics(stats::get, "tiny", clock::get);

  @AfterEach
  void close() {
    metrics.close();
  }

  @Test
  void everyLineIsPrometheusTextAndEveryNameIsThere() {
    metrics.startRequest().finished("stop", 3, 2, 0);
    metrics.requestRejected("overloaded");
    String text = metrics.scrape();
    Map<String, String> types = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty()) {
        continue;
      }
      Matcher c = COMMENT.matcher(line);
      if (c.matches()) {
        if (c.group(1).equals("TYPE")) {
          types.put(c.group(2), c.group(3).trim());
        }
        continue;
      }
      if (!SAMPLE.matcher(line).matches()) {
        fail("not a Prometheus text line: " + line);
      }
    }
    Map<String, String> expected = new LinkedHashMap<>();
    for (String g :
        List.of(
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:gpu_cache_usage_perc",
            "llava:kv_blocks_used",
            "llava:kv_blocks_total",
            "llava:generation_tokens_per_second")) {
      expected.put(g, "gauge");
    }
    for (String c :
        List.of(
            "vllm:prefix_cache_queries_total",
            "vllm:prefix_cache_hits_total",
            "llava:image_cache_hits_total",
            "llava:image_cache_misses_total",
            "vllm:num_preemptions_total",
            "vllm:prompt_tokens_total",
            "vllm:generation_tokens_total",
            "vllm:request_success_total",
            "llava:requests_rejected_total")) {
      expected.put(c, "counter");
    }
    for (String h :
        List.of(
            "vllm:time_to_first_token_seconds",
            "vllm:time_per_output_token_seconds",
            "vllm:e2e_request_latency_seconds",
            "vllm:request_queue_time_seconds",
            "vllm:request_prompt_tokens",
            "vllm:request_generation_tokens")) {
      expected.put(h, "histogram");
      for (String suffix : List.of("_bucket{", "_sum{", "_count{")) {
        assertTrue(text.contains("\n" + h + suffix), h + suffix + " missing");
      }
      assertTrue(text.contains(h + "_bucket{model_name=\"tiny\",le=\"+Inf\"}"), h + " +Inf");
    }
    expected.forEach((name, type) -> assertEquals(type, types.get(name), name));
    assertTrue(text.contains("\njvm_memory_used_bytes{"), "JVM memory");
    assertTrue(text.contains("\njvm_threads_live_threads "), "JVM threads");
    assertTrue(text.contains("\nsystem_cpu_count "), "processor");
    assertTrue(text.contains("\n# TYPE process_resident_memory_bytes gauge\n"), "RSS");
  }

  @Test
  void residentMemoryIsTheVmRssLineOfProcStatus() {
    String status = "Name:\tjava\nVmPeak:\t 9000 kB\nVmRSS:\t  123456 kB\nThreads:\t42\n";
    assertEquals(123456 * 1024.0, ResidentMemory.parseStatus(status));
    assertTrue(Double.isNaN(ResidentMemory.parseStatus("Name:\tjava\n")));
    if (java.nio.file.Files.isReadable(java.nio.file.Path.of("/proc/self/status"))) {
      double rss = samples(metrics.scrape()).get("process_resident_memory_bytes");
      assertTrue(rss > 10e6, "a JVM holds more than 10 MB resident: " + rss);
    }
  }

  @Test
  void engineGaugesAndCountersFollowTheSnapshot() {
    Map<String, Double> before = samples(metrics.scrape());
    assertEquals(0.0, before.get("vllm:num_requests_running{model_name=\"tiny\"}"));
    assertEquals(100.0, before.get("llava:kv_blocks_total{model_name=\"tiny\"}"));

    stats.set(new EngineStats(3, 5, 25, 100, 400, 300, 7, 3, 2, 10, 1, 8, 500, 60, 1));
    Map<String, Double> after = samples(metrics.scrape());
    assertEquals(3.0, after.get("vllm:num_requests_running{model_name=\"tiny\"}"));
    assertEquals(5.0, after.get("vllm:num_requests_waiting{model_name=\"tiny\"}"));
    assertEquals(0.25, after.get("vllm:gpu_cache_usage_perc{model_name=\"tiny\"}"));
    assertEquals(25.0, after.get("llava:kv_blocks_used{model_name=\"tiny\"}"));
    assertEquals(400.0, after.get("vllm:prefix_cache_queries_total{model_name=\"tiny\"}"));
    assertEquals(300.0, after.get("vllm:prefix_cache_hits_total{model_name=\"tiny\"}"));
    assertEquals(0.75, after.get("llava:prefix_cache_hit_rate{model_name=\"tiny\"}"));
    assertEquals(7.0, after.get("llava:image_cache_hits_total{model_name=\"tiny\"}"));
    assertEquals(3.0, after.get("llava:image_cache_misses_total{model_name=\"tiny\"}"));
    assertEquals(0.7, after.get("llava:image_cache_hit_rate{model_name=\"tiny\"}"), 1e-9);
    assertEquals(2.0, after.get("vllm:num_preemptions_total{model_name=\"tiny\"}"));
  }

  @Test
  void requestTimersFeedTheHistogramsAndCounters() {
    RequestTimer t = metrics.startRequest();
    clock.addAndGet(2 * MS);
    t.queued();
    clock.addAndGet(30 * MS);
    t.firstToken(); // TTFT 32 ms, queue time (no scheduled event) 30 ms
    for (int i = 0; i < 4; i++) {
      clock.addAndGet(20 * MS);
      t.token(); // ITL 20 ms each
    }
    t.finished("length", 12, 5, 4);
    t.token(); // ignored after finish
    t.finished("stop", 1, 1, 1); // ignored: finished once

    RequestTimer rejectedLater = metrics.startRequest();
    clock.addAndGet(1 * MS);
    rejectedLater.finished("abort", 7, 0, 0);
    metrics.requestRejected("overloaded");
    metrics.requestRejected("overloaded");
    metrics.requestRejected("invalid");

    Map<String, Double> s = samples(metrics.scrape());
    String m = "model_name=\"tiny\"";
    assertEquals(1.0, s.get("vllm:time_to_first_token_seconds_count{" + m + "}"));
    assertEquals(0.032, s.get("vllm:time_to_first_token_seconds_sum{" + m + "}"), 1e-9);
    assertEquals(0.0, s.get("vllm:time_to_first_token_seconds_bucket{le=\"0.02\"," + m + "}"));
    assertEquals(1.0, s.get("vllm:time_to_first_token_seconds_bucket{le=\"0.04\"," + m + "}"));
    assertEquals(4.0, s.get("vllm:time_per_output_token_seconds_count{" + m + "}"));
    assertEquals(0.08, s.get("vllm:time_per_output_token_seconds_sum{" + m + "}"), 1e-9);
    assertEquals(4.0, s.get("vllm:time_per_output_token_seconds_bucket{le=\"0.025\"," + m + "}"));
    assertEquals(1.0, s.get("vllm:request_queue_time_seconds_count{" + m + "}"));
    assertEquals(0.030, s.get("vllm:request_queue_time_seconds_sum{" + m + "}"), 1e-9);
    assertEquals(2.0, s.get("vllm:e2e_request_latency_seconds_count{" + m + "}"));
    assertEquals(0.113, s.get("vllm:e2e_request_latency_seconds_sum{" + m + "}"), 1e-9);
    assertEquals(1.0, s.get("vllm:request_success_total{finished_reason=\"length\"," + m + "}"));
    assertEquals(1.0, s.get("vllm:request_success_total{finished_reason=\"abort\"," + m + "}"));
    assertFalse(s.containsKey("vllm:request_success_total{finished_reason=\"stop\"," + m + "}"));
    assertEquals(19.0, s.get("vllm:prompt_tokens_total{" + m + "}"));
    assertEquals(5.0, s.get("vllm:generation_tokens_total{" + m + "}"));
    assertEquals(4.0, s.get("llava:cached_prompt_tokens_total{" + m + "}"));
    assertEquals(2.0, s.get("vllm:request_prompt_tokens_count{" + m + "}"));
    assertEquals(19.0, s.get("vllm:request_prompt_tokens_sum{" + m + "}"));
    assertEquals(1.0, s.get("vllm:request_prompt_tokens_bucket{le=\"10.0\"," + m + "}"));
    assertEquals(2.0, s.get("vllm:request_prompt_tokens_bucket{le=\"20.0\"," + m + "}"));
    assertEquals(5.0, s.get("vllm:request_generation_tokens_sum{" + m + "}"));
    assertEquals(2.0, s.get("llava:requests_rejected_total{" + m + ",reason=\"overloaded\"}"));
    assertEquals(1.0, s.get("llava:requests_rejected_total{" + m + ",reason=\"invalid\"}"));
  }

  @Test
  void scheduledEventGivesQueueTimeWithoutPrefill() {
    RequestTimer t = metrics.startRequest();
    t.queued();
    clock.addAndGet(50 * MS);
    t.scheduled();
    clock.addAndGet(500 * MS);
    t.firstToken();
    Map<String, Double> s = samples(metrics.scrape());
    assertEquals(1.0, s.get("vllm:request_queue_time_seconds_count{model_name=\"tiny\"}"));
    assertEquals(0.05, s.get("vllm:request_queue_time_seconds_sum{model_name=\"tiny\"}"), 1e-9);
  }

  @Test
  void tokensPerSecondIsASlidingWindow() {
    String rate = "llava:generation_tokens_per_second{model_name=\"tiny\"}";
    RequestTimer t = metrics.startRequest();
    t.firstToken();
    for (int i = 1; i < 100; i++) {
      t.token();
    }
    // 100 tokens in the current second; the window is 10 full seconds plus the current one
    double now = samples(metrics.scrape()).get(rate);
    assertEquals(10.0, now, 1e-6);
    clock.addAndGet(5_000 * MS);
    assertEquals(100 / 10.0, samples(metrics.scrape()).get(rate), 1e-6);
    clock.addAndGet(6_000 * MS);
    assertEquals(0.0, samples(metrics.scrape()).get(rate));
  }

  @Test
  void metricNamesKeepTheirColons() {
    String text = metrics.scrape();
    assertFalse(text.contains("vllm_num_requests_running"), "':' was replaced");
    assertFalse(text.contains("llava:kv_blocks{"), "_total dropped from a gauge");
    assertTrue(text.contains("# TYPE vllm:num_requests_running gauge"));
  }

  private static Map<String, Double> samples(String text) {
    Map<String, Double> out = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      out.put(sortLabels(line.substring(0, space)), Double.parseDouble(line.substring(space + 1)));
    }
    return out;
  }

  /** {@code name{b="1",a="2"}} as {@code name{a="2",b="1"}}, so tests need not know the order. */
  private static String sortLabels(String series) {
    int brace = series.indexOf('{');
    if (brace < 0) {
      return series;
    }
    String[] labels = series.substring(brace + 1, series.length() - 1).split(",");
    java.util.Arrays.sort(labels);
    return series.substring(0, brace) + "{" + String.join(",", labels) + "}";
  }

  private static EngineStats stats(int running, int waiting, int used, int total) {
    return new EngineStats(running, waiting, used, total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }
}
