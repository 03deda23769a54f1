package io.llavaserve.web.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
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
 * A gateway and two engine nodes as child JVMs on loopback, each started as a user would ({@code
 * serve --cluster}), over the tiny model: answers through the gateway equal a node's own, requests
 * that repeat an image go to the engine that holds it, and the load threshold sends them elsewhere
 * once that engine is busier than the other by more than it. The engines run with role {@code
 * both}, so each also answers directly, as a single node.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterProcessesTest {

  private static final Duration START = Duration.ofSeconds(90);

  /**
   * Nothing leaves here: a node is taken as gone only after 5 s without heartbeats, so that a
   * loaded machine's pauses do not end streams.
   */
  private static final String PATIENT = "5000";

  private static final Map<String, String> PATIENT_ENV =
      Map.of("LLAVA_SERVE_CLUSTER_ENGINE_TIMEOUT_MS", PATIENT);

  /** The gateway's absolute balance threshold; the relative one stays at its default. */
  private static final int ABS_THRESHOLD = 2;

  // Kept when a test fails: the nodes' logs are in it.
  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  static Path dir;

  private NodeProcess gateway;
  private NodeProcess engineA;
  private NodeProcess engineB;
  private final List<NodeProcess> started = new ArrayList<>();

  @BeforeAll
  void startCluster() throws Exception {
    Path model = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny());
    int gatewayCluster = NodeProcess.freePort();
    int clusterA = NodeProcess.freePort();
    int clusterB = NodeProcess.freePort();
    List<Integer> members = List.of(gatewayCluster, clusterA, clusterB);
    gateway =
        track(
            NodeProcess.start(
                "gateway",
                dir,
                "gateway",
                NodeProcess.freePort(),
                gatewayCluster,
                members,
                null,
                Map.of(
                    "LLAVA_SERVE_CLUSTER_ROUTING_BALANCE_ABS_THRESHOLD",
                    Integer.toString(ABS_THRESHOLD),
                    "LLAVA_SERVE_CLUSTER_ENGINE_TIMEOUT_MS",
                    PATIENT)));
    engineA =
        track(
            NodeProcess.start(
                "engine-a",
                dir,
                "both",
                NodeProcess.freePort(),
                clusterA,
                members,
                model,
                Map.of()));
    engineB =
        track(
            NodeProcess.start(
                "engine-b",
                dir,
                "both",
                NodeProcess.freePort(),
                clusterB,
                members,
                model,
                Map.of()));
    gateway.awaitReady(START);
    engineA.awaitReady(START);
    engineB.awaitReady(START);
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (gateway.metric("llava:cluster_engines_up") != 2) {
      assertTrue(System.nanoTime() < deadline, "both engines up at the gateway");
      Thread.sleep(100);
    }
  }

  @AfterAll
  void stopCluster() {
    started.forEach(NodeProcess::close);
  }

  private NodeProcess track(NodeProcess p) {
    started.add(p);
    return p;
  }

  @Test
  @Order(1)
  @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void greedyAnswersThroughTheGatewayEqualASingleNodes() throws Exception {
    List<String> bodies =
        List.of(
            chat(png(40, 24, 1), "What is in the picture?", 16).encode(),
            chat(null, "Tell me about the sea.", 24)
                .put("logprobs", true)
                .put("top_logprobs", 3)
                .encode(),
            chat(png(300, 200, 2), "Describe it.", 16).put("stream", true).encode());
    for (String body : bodies) {
      for (int i = 0; i < 2; i++) { // twice: both engines are likely to answer one of them
        HttpResponse<String> viaGateway = gateway.post("/v1/chat/completions", body);
        HttpResponse<String> direct = engineA.post("/v1/chat/completions", body);
        assertEquals(200, viaGateway.statusCode(), viaGateway.body());
        assertEquals(200, direct.statusCode(), direct.body());
        assertEquals(answer(direct.body()), answer(viaGateway.body()), body);
      }
    }
    String completion =
        new JsonObject()
            .put("prompt", "Once upon a time")
            .put("max_tokens", 16)
            .put("temperature", 0)
            .put("logprobs", 2)
            .encode();
    HttpResponse<String> viaGateway = gateway.post("/v1/completions", completion);
    HttpResponse<String> direct = engineB.post("/v1/completions", completion);
    assertEquals(200, viaGateway.statusCode(), viaGateway.body());
    JsonObject g = new JsonObject(viaGateway.body());
    JsonObject d = new JsonObject(direct.body());
    assertEquals(
        d.getJsonArray("choices").getJsonObject(0).getString("text"),
        g.getJsonArray("choices").getJsonObject(0).getString("text"));
    assertEquals(
        d.getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs"),
        g.getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs"));
    assertEquals(counts(d.getJsonObject("usage")), counts(g.getJsonObject("usage")));
  }

  @Test
  @Order(2)
  @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void requestsRepeatingAnImageGoToTheEngineThatHoldsIt() throws Exception {
    int images = 4;
    int repeats = 4;
    int onHolder = 0;
    for (int i = 0; i < images; i++) {
      String image = png(64 + 8 * i, 48, 10 + i);
      double aBefore = successes(engineA);
      double bBefore = successes(engineB);
      ok(gateway.post("/v1/chat/completions", chat(image, "First look " + i, 4).encode()));
      boolean onA = successes(engineA) > aBefore;
      NodeProcess holder = onA ? engineA : engineB;
      assertEquals(1, successes(engineA) - aBefore + successes(engineB) - bBefore, 0.0);
      for (int r = 0; r < repeats; r++) {
        double before = successes(holder);
        ok(gateway.post("/v1/chat/completions", chat(image, "Again " + r, 4).encode()));
        onHolder += successes(holder) > before ? 1 : 0;
      }
    }
    int all = images * repeats;
    assertTrue(onHolder >= 0.9 * all, onHolder + " of " + all + " repeats on the image's engine");
  }

  @Test
  @Order(3)
  @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void anEngineBusierThanTheThresholdAllowsSendsTheImagesRepeatsToTheOther() throws Exception {
    String image = png(96, 64, 99);
    double aBefore = successes(engineA);
    ok(gateway.post("/v1/chat/completions", chat(image, "Hello", 4).encode()));
    NodeProcess holder = successes(engineA) > aBefore ? engineA : engineB;
    NodeProcess other = holder == engineA ? engineB : engineA;
    double holderBefore = successes(holder);
    double otherBefore = successes(other);
    double cacheBefore = routed("cache");
    double loadBefore = routed("load");
    double decisions = gateway.metric("llava:cluster_routing_seconds_count");

    // Frozen, the holder keeps every request it takes in flight: its load only grows.
    int held = ABS_THRESHOLD + 1;
    int overflow = 3;
    ExecutorService pool = Executors.newFixedThreadPool(held);
    holder.signal("STOP");
    try {
      List<Future<HttpResponse<String>>> onHolder = new ArrayList<>();
      for (int i = 0; i < held; i++) {
        String body = chat(image, "Held " + i, 4).encode();
        onHolder.add(pool.submit(() -> gateway.post("/v1/chat/completions", body)));
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (gateway.metric("llava:cluster_routing_seconds_count") < decisions + i + 1) {
          assertTrue(System.nanoTime() < deadline, "request " + i + " routed");
          Thread.sleep(20);
        }
      }
      // Now the holder's load exceeds the other's by more than the threshold: the image's
      // repeats go to the other engine, which answers them while the holder is still frozen.
      for (int i = 0; i < overflow; i++) {
        ok(gateway.post("/v1/chat/completions", chat(image, "Overflow " + i, 4).encode()));
      }
      assertEquals(overflow, successes(other) - otherBefore, 0.0);
      holder.signal("CONT");
      for (Future<HttpResponse<String>> f : onHolder) {
        ok(f.get(60, TimeUnit.SECONDS));
      }
    } finally {
      holder.signal("CONT");
      pool.shutdownNow();
    }
    assertEquals(held, successes(holder) - holderBefore, 0.0);
    double byCache = routed("cache") - cacheBefore;
    double byLoad = routed("load") - loadBefore;
    assertEquals(held + overflow, byCache + byLoad, 0.0);
    // The first overflow goes by load; once the other engine holds the image too, the rest may go
    // there by cache.
    assertTrue(byLoad >= 1 && byCache >= held, "cache " + byCache + ", load " + byLoad);
  }

  /** The text, finish reason, logprobs and usage of a chat answer, plain or streamed. */
  private static JsonObject answer(String body) {
    if (!body.startsWith("data: ")) {
      JsonObject r = new JsonObject(body);
      JsonObject choice = r.getJsonArray("choices").getJsonObject(0);
      return new JsonObject()
          .put("text", choice.getJsonObject("message").getString("content"))
          .put("finish", choice.getString("finish_reason"))
          .put("logprobs", choice.getJsonObject("logprobs"))
          .put("usage", counts(r.getJsonObject("usage")));
    }
    StringBuilder text = new StringBuilder();
    String finish = null;
    JsonObject usage = null;
    for (String line : body.split("\n")) {
      if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
        continue;
      }
      JsonObject chunk = new JsonObject(line.substring(6));
      usage = chunk.getJsonObject("usage", usage);
      for (Object c : chunk.getJsonArray("choices", new JsonArray())) {
        JsonObject choice = (JsonObject) c;
        JsonObject delta = choice.getJsonObject("delta", new JsonObject());
        String part = delta.getString("content");
        text.append(part == null ? "" : part);
        finish = choice.getString("finish_reason", finish);
      }
    }
    return new JsonObject()
        .put("text", text.toString())
        .put("finish", finish)
        .put("logprobs", null)
        .put("usage", counts(usage));
  }

  /** The token counts of a usage; which prompt tokens a node's prefix cache held may differ. */
  private static JsonObject counts(JsonObject usage) {
    if (usage == null) {
      return null;
    }
    JsonObject c = usage.copy();
    c.remove("prompt_tokens_details");
    return c;
  }

  private static JsonObject chat(String image, String question, int maxTokens) {
    JsonArray content = new JsonArray();
    if (image != null) {
      content.add(
          new JsonObject()
              .put("type", "image_url")
              .put("image_url", new JsonObject().put("url", image)));
    }
    content.add(new JsonObject().put("type", "text").put("text", question));
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)))
        .put("temperature", 0)
        .put("max_tokens", maxTokens);
  }

  /** A PNG data URI of {@code width} x {@code height}, its pixels drawn from {@code seed}. */
  private static String png(int width, int height, int seed) throws Exception {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        img.setRGB(x, y, new Color((x * seed) % 256, (y * 13 + seed) % 256, 90).getRGB());
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return "data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
  }

  /** Requests an engine finished, from its own /metrics (0 before the first). */
  private static double successes(NodeProcess engine) throws Exception {
    double v = engine.metric("vllm:request_success_total");
    return Double.isNaN(v) ? 0 : v;
  }

  private double routed(String how) throws Exception {
    double v = gateway.metric("llava:cluster_routed_total{how=\"" + how + "\"");
    return Double.isNaN(v) ? 0 : v;
  }

  private static String ok(HttpResponse<String> r) {
    assertEquals(200, r.statusCode(), r.body());
    return r.body();
  }
}
