package io.llavaserve.web.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.web.batchjobs.Jobs;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gateway and two engines as child JVMs on loopback over the tiny model, each started as a user
 * would ({@code serve --cluster}), killed for real with SIGKILL: the gateway mid-job (its restart
 * resumes every job it had accepted, each line exactly once), then an engine under streaming load
 * and a batch job (every stream completes or ends with {@code engine_unavailable}, none hangs, new
 * requests go to the survivor, the job ends with every line exactly once and none failed). Every
 * wait is bounded; the children are killed after the tests whatever happens.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterKillTest {

  private static final Duration START = Duration.ofSeconds(90);

  // Kept when a test fails: the nodes' logs are in it.
  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  static Path dir;

  private Path model;
  private int gatewayHttp;
  private int gatewayCluster;
  private List<Integer> members;
  private NodeProcess gateway;
  private NodeProcess engineA;
  private NodeProcess engineB;
  private final List<NodeProcess> started = new ArrayList<>();

  @BeforeAll
  void startCluster() throws Exception {
    model = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny());
    gatewayHttp = NodeProcess.freePort();
    gatewayCluster = NodeProcess.freePort();
    int clusterA = NodeProcess.freePort();
    int clusterB = NodeProcess.freePort();
    // Every member lists every other: a restarted gateway finds the engines' cluster again.
    members = List.of(gatewayCluster, clusterA, clusterB);
    gateway = startGateway();
    engineA = track(engine("engine-a", clusterA));
    engineB = track(engine("engine-b", clusterB));
    gateway.awaitReady(START);
    engineA.awaitReady(START);
    engineB.awaitReady(START);
    awaitEnginesUp(2);
  }

  @AfterAll
  void stopCluster() {
    started.forEach(NodeProcess::close);
  }

  private NodeProcess track(NodeProcess p) {
    started.add(p);
    return p;
  }

  private NodeProcess startGateway() throws Exception {
    return track(
        NodeProcess.start(
            "gateway",
            dir,
            "gateway",
            gatewayHttp,
            gatewayCluster,
            members,
            null,
            Map.of("LLAVA_SERVE_BATCH_MAX_IN_FLIGHT", "16")));
  }

  private NodeProcess engine(String name, int clusterPort) throws Exception {
    return NodeProcess.start(
        name, dir, "engine", NodeProcess.freePort(), clusterPort, members, model, Map.of());
  }

  @Test
  @Order(1)
  @Timeout(value = 150, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void aGatewayKilledMidJobResumesEveryJobItHadAcceptedWithEveryLineOnce() throws Exception {
    BatchApiClient client = new BatchApiClient(gateway.url(""), null);
    int n = 120;
    String running =
        client
            .create(
                client.upload(Jobs.input(dir, "running.jsonl", n, 8, 0)).getString("id"), Jobs.CHAT)
            .getString("id");
    int before = Jobs.done(Jobs.waitFor(client, running, b -> Jobs.done(b) >= 10, 60));
    // Accepted a moment before the kill: nothing of it has run yet.
    String accepted =
        client
            .create(
                client.upload(Jobs.input(dir, "accepted.jsonl", 30, 8, 0)).getString("id"),
                Jobs.CHAT)
            .getString("id");
    gateway.kill();
    assertTrue(before < n, "the job was still running at the kill: " + before);

    gateway = startGateway();
    gateway.awaitReady(START);
    for (String id : List.of(running, accepted)) {
      JsonObject b = Jobs.waitDone(client, id, 90);
      assertEquals("completed", b.getString("status"), b.encode());
      assertTrue(Jobs.done(b) >= (id.equals(running) ? before : 0));
      Jobs.assertExactlyOnce(client, b, id.equals(running) ? n : 30);
      assertEquals(null, b.getString("error_file_id"), "no line failed: " + b.encode());
    }
    awaitEnginesUp(2);
  }

  @Test
  @Order(2)
  @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void anEngineKilledUnderLoadEndsItsStreamsWithARetryableErrorAndItsBatchLinesRunElsewhere()
      throws Exception {
    BatchApiClient client = new BatchApiClient(gateway.url(""), null);
    int n = 160;
    String job =
        client
            .create(
                client.upload(Jobs.input(dir, "kill.jsonl", n, 8, 0)).getString("id"), Jobs.CHAT)
            .getString("id");
    Jobs.waitFor(client, job, b -> Jobs.done(b) >= 10, 60);

    int streams = 6;
    CountDownLatch reading = new CountDownLatch(streams);
    CountDownLatch killed = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(streams + 4);
    try {
      List<Future<String>> ends = new ArrayList<>();
      for (int i = 0; i < streams; i++) {
        ends.add(pool.submit(() -> stream(reading, killed)));
      }
      assertTrue(reading.await(30, TimeUnit.SECONDS), "every stream has its first token");
      // The streams wait for their clients (credits), so they are still running at the kill.
      NodeProcess victim =
          engineA.metric("vllm:num_requests_running") >= engineB.metric("vllm:num_requests_running")
              ? engineA
              : engineB;
      NodeProcess survivor = victim == engineA ? engineB : engineA;
      victim.kill();
      killed.countDown();
      // Requests sent before the gateway notices go to the survivor too.
      List<Future<HttpResponse<String>>> after = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        String body = Jobs.line(1000 + i, 8, 0).getJsonObject("body").encode();
        after.add(pool.submit(() -> gateway.post("/v1/chat/completions", body)));
      }

      int completed = 0;
      int retryable = 0;
      for (Future<String> end : ends) {
        String how = end.get(45, TimeUnit.SECONDS); // none hangs
        if (how.equals("completed")) {
          completed++;
        } else {
          assertEquals("engine_unavailable", how);
          retryable++;
        }
      }
      assertEquals(streams, completed + retryable);
      assertTrue(retryable > 0, "the killed engine was running streams");
      for (Future<HttpResponse<String>> r : after) {
        HttpResponse<String> response = r.get(45, TimeUnit.SECONDS);
        assertEquals(200, response.statusCode(), response.body());
      }

      awaitEnginesUp(1);
      double before = survivor.metric("vllm:request_success_total");
      for (int i = 0; i < 3; i++) {
        String body = Jobs.line(2000 + i, 8, 0).getJsonObject("body").encode();
        HttpResponse<String> r = gateway.post("/v1/chat/completions", body);
        assertEquals(200, r.statusCode(), r.body());
      }
      assertTrue(survivor.metric("vllm:request_success_total") >= before + 3);

      JsonObject b = Jobs.waitDone(client, job, 90);
      assertEquals("completed", b.getString("status"), b.encode());
      Jobs.assertExactlyOnce(client, b, n);
      assertEquals(null, b.getString("error_file_id"), "no line failed: " + b.encode());
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * One streaming chat through the gateway that reads its first token, then waits for the kill
   * before reading on; returns "completed" or the code of the error event that ended it.
   */
  private String stream(CountDownLatch reading, CountDownLatch killed) throws Exception {
    JsonObject body =
        new JsonObject()
            .put(
                "messages",
                new JsonArray()
                    .add(new JsonObject().put("role", "user").put("content", "Tell a long story.")))
            .put("max_tokens", 1500)
            .put("ignore_eos", true)
            .put("temperature", 0)
            .put("stream", true);
    HttpRequest post =
        HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.encode()))
            .build();
    HttpClient http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    HttpResponse<InputStream> response = http.send(post, HttpResponse.BodyHandlers.ofInputStream());
    assertEquals(200, response.statusCode());
    try (BufferedReader lines =
        new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
      boolean first = true;
      String error = null;
      String finish = null;
      for (String line = lines.readLine(); line != null; line = lines.readLine()) {
        if (!line.startsWith("data: ")) {
          continue;
        }
        if (first) {
          first = false;
          reading.countDown();
          assertTrue(killed.await(40, TimeUnit.SECONDS), "the kill came");
        }
        if (line.equals("data: [DONE]")) {
          return error != null ? error : finish != null ? "completed" : "no finish and no error";
        }
        JsonObject chunk = new JsonObject(line.substring(6));
        if (chunk.getJsonObject("error") != null) {
          error = chunk.getJsonObject("error").getString("code");
        }
        JsonArray choices = chunk.getJsonArray("choices");
        if (choices != null && !choices.isEmpty()) {
          String reason = choices.getJsonObject(0).getString("finish_reason");
          finish = reason != null ? reason : finish;
        }
      }
      return "the stream ended without [DONE]";
    }
  }

  private void awaitEnginesUp(int n) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    double up = Double.NaN;
    while (System.nanoTime() < deadline) {
      up = gateway.metric("llava:cluster_engines_up");
      if (up == n) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the gateway counts " + up + " engines up, not " + n);
  }
}
