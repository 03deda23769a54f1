package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.web.TestServer;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interactive first-token latency while a big job runs, and batch throughput against the online
 * path at the same concurrency; both print their figures.
 */
class BatchPriorityTest {

  static final int CONCURRENCY = 32;

  @TempDir static Path dir;
  static TestServer s;
  static BatchApiClient client;

  @BeforeAll
  static void start() throws Exception {
    s = TestServer.on(dir).batches(dir.resolve("data"), CONCURRENCY).start();
    client = new BatchApiClient(s.url(""), null);
    ttftMs(0); // warm-up
  }

  @AfterAll
  static void stop() {
    s.close();
  }

  /** Time to the first content chunk of a streaming chat request, in ms. */
  static double ttftMs(int i) throws Exception {
    JsonObject body = Jobs.line(10_000 + i, 8, 0).getJsonObject("body").put("stream", true);
    HttpRequest r =
        HttpRequest.newBuilder(URI.create(s.url(Jobs.CHAT)))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.encode()))
            .build();
    long t0 = System.nanoTime();
    HttpResponse<InputStream> resp = s.http.send(r, HttpResponse.BodyHandlers.ofInputStream());
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.startsWith("data: ")
            && line.contains("\"content\"")
            && !line.contains("\"content\":\"\"")) {
          double ms = (System.nanoTime() - t0) / 1e6;
          while (in.readLine() != null) {
            // drain
          }
          return ms;
        }
      }
    }
    throw new AssertionError("no token");
  }

  static double median(double[] v) {
    double[] c = v.clone();
    Arrays.sort(c);
    return c[c.length / 2];
  }

  @Test
  void interactiveFirstTokenStaysFastDuringABigJob() throws Exception {
    double[] idle = new double[5];
    for (int i = 0; i < idle.length; i++) {
      idle[i] = ttftMs(i);
    }
    String file = client.upload(Jobs.input(dir, "big.jsonl", 400, 16, 0)).getString("id");
    String id = client.create(file, Jobs.CHAT).getString("id");
    Jobs.waitFor(client, id, b -> Jobs.done(b) >= 20, 60);
    double[] busy = new double[5];
    for (int i = 0; i < busy.length; i++) {
      busy[i] = ttftMs(100 + i);
    }
    JsonObject during = client.batch(id);
    double bound = 10 * median(idle) + 1000;
    System.out.printf(
        "TTFT idle median %.1f ms (max %.1f); during a 400-line job median %.1f ms (max %.1f); bound %.0f ms; job at %d lines%n",
        median(idle),
        Arrays.stream(idle).max().orElse(0),
        median(busy),
        Arrays.stream(busy).max().orElse(0),
        bound,
        Jobs.done(during));
    assertTrue(
        Arrays.stream(busy).max().orElse(0) < bound, "TTFT under load " + Arrays.toString(busy));
    assertTrue(Jobs.done(during) < 400, "the job was still running while measured");
    client.cancel(id);
    Jobs.waitDone(client, id, 30);
  }

  @Test
  void batchThroughputAgainstTheOnlinePath() throws Exception {
    int n = 256;
    int maxTokens = 16;
    // Online: CONCURRENCY clients in a closed loop, non-streaming.
    Semaphore slots = new Semaphore(CONCURRENCY);
    List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      slots.acquire();
      HttpRequest r =
          HttpRequest.newBuilder(URI.create(s.url(Jobs.CHAT)))
              .header("Content-Type", "application/json")
              .POST(
                  HttpRequest.BodyPublishers.ofString(
                      Jobs.line(i, maxTokens, 0)
                          .getJsonObject("body")
                          .put("ignore_eos", true)
                          .encode()))
              .build();
      all.add(
          s.http
              .sendAsync(r, HttpResponse.BodyHandlers.ofString())
              .whenComplete((x, e) -> slots.release()));
    }
    long onlineTokens = 0;
    for (CompletableFuture<HttpResponse<String>> f : all) {
      HttpResponse<String> resp = f.join();
      assertEquals(200, resp.statusCode(), resp.body());
      onlineTokens +=
          new JsonObject(resp.body()).getJsonObject("usage").getLong("completion_tokens");
    }
    double onlineSec = (System.nanoTime() - t0) / 1e9;

    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      JsonObject l = Jobs.line(i + 1, maxTokens, 0);
      l.getJsonObject("body").put("ignore_eos", true);
      lines.add(l.encode());
    }
    String file = client.upload(Jobs.write(dir, "bench.jsonl", lines)).getString("id");
    long t1 = System.nanoTime();
    String id = client.create(file, Jobs.CHAT).getString("id");
    JsonObject b = Jobs.waitDone(client, id, 120);
    double batchSec = (System.nanoTime() - t1) / 1e9;
    assertEquals("completed", b.getString("status"));
    long batchTokens = 0;
    for (JsonObject o : Jobs.byCustomId(client.content(b.getString("output_file_id"))).values()) {
      batchTokens +=
          o.getJsonObject("response")
              .getJsonObject("body")
              .getJsonObject("usage")
              .getLong("completion_tokens");
    }
    System.out.printf(
        "throughput at concurrency %d, %d requests x %d tokens: online %.1f req/s %.0f tok/s; batch job %.1f req/s %.0f tok/s (%.2fx)%n",
        CONCURRENCY,
        n,
        maxTokens,
        n / onlineSec,
        onlineTokens / onlineSec,
        n / batchSec,
        batchTokens / batchSec,
        (n / batchSec) / (n / onlineSec));
    assertEquals(onlineTokens, batchTokens);
  }
}
