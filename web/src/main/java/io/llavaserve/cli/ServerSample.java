package io.llavaserve.cli;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * What a soak run reads from the server's {@code GET /metrics} (Prometheus text): the process's
 * resident memory, the JVM's heap in use and live threads, and the engine's KV blocks in use and
 * requests in flight. A figure the server does not export is NaN.
 *
 * @param rssBytes {@code process_resident_memory_bytes}
 * @param heapUsedBytes {@code jvm_memory_used_bytes{area="heap"}}, summed over the heap's pools
 * @param liveThreads {@code jvm_threads_live_threads}
 * @param kvBlocksUsed {@code llava:kv_blocks_used}: blocks held by live sequences (a free block the
 *     prefix cache still holds is not in use)
 * @param running {@code vllm:num_requests_running}
 * @param waiting {@code vllm:num_requests_waiting}
 */
record ServerSample(
    double rssBytes,
    double heapUsedBytes,
    double liveThreads,
    double kvBlocksUsed,
    double running,
    double waiting) {

  static final ServerSample NONE =
      new ServerSample(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);

  /** Reads {@code base/metrics}; {@link #NONE} when it cannot be read. */
  static ServerSample scrape(HttpClient http, URI base) {
    try {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(base.resolve("/metrics"))
                  .timeout(Duration.ofSeconds(10))
                  .GET()
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? parse(r.body()) : NONE;
    } catch (Exception e) {
      return NONE;
    }
  }

  /** The figures in a Prometheus text exposition. */
  static ServerSample parse(String text) {
    return new ServerSample(
        sum(text, "process_resident_memory_bytes", null),
        sum(text, "jvm_memory_used_bytes", "area=\"heap\""),
        sum(text, "jvm_threads_live_threads", null),
        sum(text, "llava:kv_blocks_used", null),
        sum(text, "vllm:num_requests_running", null),
        sum(text, "vllm:num_requests_waiting", null));
  }

  /** No request in flight and no KV block in use. */
  boolean idle() {
    return kvBlocksUsed == 0 && running == 0 && waiting == 0;
  }

  /** The sum of series {@code name} whose labels include {@code label}; NaN when there is none. */
  private static double sum(String text, String name, String label) {
    double total = 0;
    boolean found = false;
    for (String line : text.split("\n")) {
      if (!line.startsWith(name)) {
        continue;
      }
      String rest = line.substring(name.length());
      boolean labelled = rest.startsWith("{");
      if (!labelled && !rest.startsWith(" ")) {
        continue; // another series whose name starts with this one
      }
      int end = labelled ? rest.indexOf("} ") : 0;
      if (end < 0 || (label != null && !rest.substring(0, end).contains(label))) {
        continue;
      }
      String value = rest.substring(labelled ? end + 2 : 1).strip().split(" ")[0];
      total += Double.parseDouble(value);
      found = true;
    }
    return found ? total : Double.NaN;
  }
}
