package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.Hazelcast;
import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.web.batchjobs.Jobs;
import io.llavaserve.web.cluster.ClusterConfig;
import io.llavaserve.web.cluster.ClusterNode;
import io.llavaserve.web.cluster.NodeRole;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gateway and two engine nodes (role {@code both}, so each also answers as a single node) on
 * loopback in one JVM, each with its own Hazelcast member and clustered Vert.x, joined by TCP, over
 * the tiny model: every API route through the gateway answers as a single node does. The last test
 * takes an engine out of the cluster mid-stream. Engines killed for real (child processes, {@code
 * kill -9}) are {@code cluster.ClusterKillTest}'s.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterTest {

  @TempDir static Path dir;

  private TestServer gateway;
  private TestServer engineA;
  private TestServer engineB;
  private int gatewayPort;
  private int portA;
  private int portB;

  @BeforeAll
  void startCluster() throws Exception {
    gatewayPort = FreePorts.next();
    gateway =
        TestServer.on(dir)
            .batches(dir.resolve("gateway-data"), 8)
            .cluster(node(gatewayPort, NodeRole.GATEWAY))
            .startGateway();
    portA = FreePorts.next();
    engineA = TestServer.on(dir).cluster(node(portA, NodeRole.BOTH)).start();
    portB = FreePorts.next();
    engineB = TestServer.on(dir).cluster(node(portB, NodeRole.BOTH)).start();
    await(() -> gauge("llava:cluster_engines_up") == 2, "both engines to be up at the gateway");
  }

  @AfterAll
  void stopCluster() {
    for (TestServer s : new TestServer[] {gateway, engineA, engineB}) {
      if (s != null) {
        s.close();
      }
    }
  }

  private ClusterConfig node(int port, NodeRole role) {
    return ClusterConfig.loopback(port, role, List.of("127.0.0.1:" + gatewayPort))
        .withTimings(200, 1000);
  }

  @Test
  @Order(1)
  void aGreedyAnswerThroughTheGatewayEqualsASingleNodesAnswer() throws Exception {
    String body = chat(TestServer.pngDataUri(20, 14), "What is in the picture?", false).encode();
    JsonObject viaGateway = new JsonObject(ok(gateway.post("/v1/chat/completions", body)));
    JsonObject direct = new JsonObject(ok(engineA.post("/v1/chat/completions", body)));
    JsonObject g = viaGateway.getJsonArray("choices").getJsonObject(0);
    JsonObject d = direct.getJsonArray("choices").getJsonObject(0);
    assertEquals(
        d.getJsonObject("message").getString("content"),
        g.getJsonObject("message").getString("content"));
    assertEquals(d.getString("finish_reason"), g.getString("finish_reason"));
    for (String k : List.of("prompt_tokens", "completion_tokens", "total_tokens")) {
      assertEquals(
          direct.getJsonObject("usage").getInteger(k),
          viaGateway.getJsonObject("usage").getInteger(k),
          k);
    }
    assertEquals(TestServer.MODEL_ID, viaGateway.getString("model"));
    assertTrue(viaGateway.getString("id").startsWith("chatcmpl-"));
  }

  @Test
  @Order(1)
  void logprobsThroughTheGatewayEqualASingleNodes() throws Exception {
    String body =
        chat(null, "Name a colour.", false).put("logprobs", true).put("top_logprobs", 2).encode();
    JsonObject viaGateway = new JsonObject(ok(gateway.post("/v1/chat/completions", body)));
    JsonObject direct = new JsonObject(ok(engineB.post("/v1/chat/completions", body)));
    JsonObject g = viaGateway.getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs");
    JsonObject d = direct.getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs");
    assertEquals(12, d.getJsonArray("content").size());
    assertEquals(d, g);
  }

  @Test
  @Order(1)
  void tokenizeAndDetokenizeThroughTheGatewayAnswerAsASingleNode() throws Exception {
    JsonArray parts =
        new JsonArray()
            .add(
                new JsonObject()
                    .put("type", "image_url")
                    .put("image_url", new JsonObject().put("url", TestServer.pngDataUri(8, 8))))
            .add(new JsonObject().put("type", "text").put("text", "What is this?"));
    List<JsonObject> bodies =
        List.of(
            new JsonObject().put("prompt", "Hello world"),
            new JsonObject().put("prompt", "Hello world").put("add_special_tokens", false),
            new JsonObject()
                .put("model", TestServer.MODEL_ID)
                .put(
                    "messages",
                    new JsonArray()
                        .add(new JsonObject().put("role", "user").put("content", parts))),
            new JsonObject().put("prompt", 7), // 400 naming prompt
            new JsonObject().put("return_token_strs", true).put("prompt", "x"),
            // The engine decodes the image: refused as its chat endpoint refuses it.
            PromptCounts.userMessage(
                new JsonObject()
                    .put("type", "image_url")
                    .put(
                        "image_url",
                        new JsonObject().put("url", "data:image/png;base64,aGVsbG8gd29ybGQ="))));
    for (JsonObject body : bodies) {
      sameAnswer("/tokenize", body);
    }
    // Images count the positions they fill, as the usage of a chat through the gateway does.
    JsonObject messages =
        PromptCounts.userMessage(
            PromptCounts.image(30, 20), PromptCounts.text("and"), PromptCounts.image(8, 90));
    JsonObject tokenized = PromptCounts.tokenize(gateway, messages);
    assertEquals(PromptCounts.chatPromptTokens(gateway, messages), tokenized.getInteger("count"));
    assertEquals(
        List.of(16, 16),
        PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), TinySpec.IMAGE_TOKEN_INDEX));
    HttpResponse<String> badImage = gateway.post("/tokenize", bodies.get(5).encode());
    HttpResponse<String> badChat =
        gateway.post("/v1/chat/completions", bodies.get(5).copy().put("max_tokens", 1).encode());
    assertEquals(400, badImage.statusCode(), badImage.body());
    assertEquals(new JsonObject(badChat.body()), new JsonObject(badImage.body()));
    JsonArray tokens =
        new JsonObject(ok(gateway.post("/tokenize", bodies.get(1).encode())))
            .getJsonArray("tokens");
    assertTrue(tokens.size() > 1);
    JsonObject text = sameAnswer("/detokenize", new JsonObject().put("tokens", tokens));
    assertEquals("Hello world", text.getString("prompt"));
    sameAnswer("/detokenize", new JsonObject().put("tokens", new JsonArray().add(-1)));
    sameAnswer("/detokenize", new JsonObject());

    HttpResponse<String> unknown =
        gateway.post(
            "/tokenize", new JsonObject().put("model", "nope").put("prompt", "x").encode());
    assertEquals(404, unknown.statusCode(), unknown.body());
    assertEquals(
        "model_not_found", new JsonObject(unknown.body()).getJsonObject("error").getString("code"));
  }

  /** Posts {@code body} to the gateway and to an engine: same status, same body; the body. */
  private JsonObject sameAnswer(String path, JsonObject body) throws Exception {
    HttpResponse<String> viaGateway = gateway.post(path, body.encode());
    HttpResponse<String> direct = engineA.post(path, body.encode());
    assertEquals(direct.statusCode(), viaGateway.statusCode(), path + " " + body.encode());
    JsonObject g = new JsonObject(viaGateway.body());
    JsonObject d = new JsonObject(direct.body());
    if (d.getJsonObject("error") != null) {
      // The error bodies match but for the request id a 500's message names.
      d.getJsonObject("error").remove("message");
      g.getJsonObject("error").remove("message");
    }
    assertEquals(d, g, path + " " + body.encode());
    return g;
  }

  @Test
  @Order(1)
  void aCompletionThroughTheGatewayEqualsASingleNodes() throws Exception {
    String body =
        new JsonObject()
            .put("prompt", "Once upon a time")
            .put("max_tokens", 10)
            .put("temperature", 0)
            .encode();
    JsonObject viaGateway = new JsonObject(ok(gateway.post("/v1/completions", body)));
    JsonObject direct = new JsonObject(ok(engineB.post("/v1/completions", body)));
    assertEquals(
        direct.getJsonArray("choices").getJsonObject(0).getString("text"),
        viaGateway.getJsonArray("choices").getJsonObject(0).getString("text"));
    assertEquals(direct.getJsonObject("usage"), viaGateway.getJsonObject("usage"));
    assertTrue(viaGateway.getString("id").startsWith("cmpl-"));
  }

  @Test
  @Order(1)
  void aWebSocketChatThroughTheGatewayStreamsASingleNodesTokensAndItsCancelReachesTheEngine()
      throws Exception {
    JsonObject request = WebSocketTest.chat("a", "Hello there", 8).put("ignore_eos", true);
    List<String> viaGateway = new ArrayList<>();
    List<String> direct = new ArrayList<>();
    JsonObject doneGateway;
    JsonObject doneDirect;
    try (WebSocketTest.Client g = WebSocketTest.Client.open(gateway, "");
        WebSocketTest.Client d = WebSocketTest.Client.open(engineA, "")) {
      g.send(request);
      d.send(request);
      List<JsonObject> frames = new ArrayList<>();
      doneGateway = g.until(WebSocketTest.ends("a"), frames);
      frames.forEach(f -> viaGateway.add(f.getString("text")));
      frames.clear();
      doneDirect = d.until(WebSocketTest.ends("a"), frames);
      frames.forEach(f -> direct.add(f.getString("text")));

      // A long request cancelled on the gateway's socket stops running on its engine.
      g.send(
          WebSocketTest.chat("long", "Tell a long story.", 400)
              .put("model", TestServer.MODEL_ID)
              .put("ignore_eos", true));
      List<JsonObject> seen = new ArrayList<>();
      g.until(f -> "long".equals(f.getString("id")) && f.getInteger("index", -1) >= 2, seen);
      g.send(new JsonObject().put("type", "cancel").put("id", "long"));
      JsonObject end = g.until(WebSocketTest.ends("long"), seen);
      assertEquals("abort", end.getString("finish_reason"), end.encode());
    }
    assertEquals("done", doneGateway.getString("type"), doneGateway.encode());
    assertEquals(direct, viaGateway);
    assertEquals(doneDirect.getJsonObject("usage"), doneGateway.getJsonObject("usage"));
    await(
        () ->
            engineA.engine.stats().running() + engineB.engine.stats().running() == 0
                && engineA.engine.stats().kvBlocksUsed() + engineB.engine.stats().kvBlocksUsed()
                    == 0,
        "the cancelled request to stop on its engine and free its blocks");
  }

  @Test
  @Order(1)
  void aBatchJobOnTheGatewaySpreadsItsLinesOverBothEnginesAndWritesEachOnce() throws Exception {
    int n = 24;
    BatchApiClient client = new BatchApiClient(gateway.url(""), null);
    long aBefore = engineA.engine.stats().requestsFinished();
    long bBefore = engineB.engine.stats().requestsFinished();
    String file = client.upload(Jobs.input(dir, "gateway-batch.jsonl", n, 6, 0)).getString("id");
    String id = client.create(file, Jobs.CHAT).getString("id");
    JsonObject done = Jobs.waitDone(client, id, 40);
    assertEquals("completed", done.getString("status"), done.encode());
    Jobs.assertExactlyOnce(client, done, n);
    long a = engineA.engine.stats().requestsFinished() - aBefore;
    long b = engineB.engine.stats().requestsFinished() - bBefore;
    assertEquals(n, a + b);
    assertTrue(a > 0 && b > 0, "lines on both engines: " + a + " / " + b);
  }

  @Test
  @Order(2)
  void aStreamThroughTheGatewayCarriesTheSameTokensAndItsUsage() throws Exception {
    JsonObject request = chat(null, "Count the shapes.", false);
    String whole =
        new JsonObject(ok(gateway.post("/v1/chat/completions", request.encode())))
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message")
            .getString("content");
    request.put("stream", true).put("stream_options", new JsonObject().put("include_usage", true));
    List<JsonObject> chunks = sse(gateway, request.encode());
    StringBuilder text = new StringBuilder();
    String finish = null;
    JsonObject usage = null;
    for (JsonObject c : chunks) {
      JsonArray choices = c.getJsonArray("choices");
      if (choices != null && !choices.isEmpty()) {
        JsonObject choice = choices.getJsonObject(0);
        JsonObject delta = choice.getJsonObject("delta");
        if (delta != null && delta.getString("content") != null) {
          text.append(delta.getString("content"));
        }
        if (choice.getString("finish_reason") != null) {
          finish = choice.getString("finish_reason");
        }
      }
      if (c.getJsonObject("usage") != null) {
        usage = c.getJsonObject("usage");
      }
    }
    assertEquals(whole, text.toString());
    assertEquals("length", finish);
    assertEquals(12, usage.getInteger("completion_tokens"));
  }

  @Test
  @Order(3)
  void requestsSharingAnImageGoToTheEngineThatHoldsIt() throws Exception {
    String image = TestServer.pngDataUri(31, 17);
    long aBefore = engineA.engine.stats().requestsFinished();
    long bBefore = engineB.engine.stats().requestsFinished();
    double cacheBefore = routed("cache");
    double decisionsBefore = metric("llava:cluster_routing_seconds_count");
    for (int i = 0; i < 5; i++) {
      ok(gateway.post("/v1/chat/completions", chat(image, "Which colour? " + i, false).encode()));
    }
    long a = engineA.engine.stats().requestsFinished() - aBefore;
    long b = engineB.engine.stats().requestsFinished() - bBefore;
    assertEquals(5, a + b);
    assertTrue(a == 5 || b == 5, "every request with the image on one engine: " + a + " / " + b);
    assertEquals(4, routed("cache") - cacheBefore, 0.0, "the 4 repeats routed by cache");
    assertEquals(5, metric("llava:cluster_routing_seconds_count") - decisionsBefore, 0.0);
    assertTrue(metric("llava:cluster_routing_seconds_sum") > 0);
  }

  @Test
  @Order(4)
  void theModelsOfEveryEngineAreListedAtTheGateway() throws Exception {
    try (TestServer other =
        TestServer.on(dir)
            .modelId("tiny-other")
            .cluster(node(FreePorts.next(), NodeRole.ENGINE))
            .start()) {
      await(() -> models().size() == 2, "the third engine's model at the gateway");
      assertEquals(List.of("tiny-other", TestServer.MODEL_ID), models()); // sorted by id
      JsonObject request = chat(null, "Hello", false).put("model", "tiny-other");
      JsonObject answer =
          new JsonObject(ok(gateway.post("/v1/chat/completions", request.encode())));
      assertEquals("tiny-other", answer.getString("model"));
      assertEquals(1, other.engine.stats().requestsFinished());
      HttpResponse<String> unknown =
          gateway.post("/v1/chat/completions", request.put("model", "nope").encode());
      assertEquals(404, unknown.statusCode());
    }
    await(() -> models().size() == 1, "the third engine gone from /v1/models");
  }

  @Test
  @Order(5)
  @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void anEngineLeavingMidStreamEndsItsStreamWithARetryableErrorAndTheSurvivorTakesNewRequests()
      throws Exception {
    JsonObject request =
        chat(null, "Tell a long story.", true)
            .put("model", TestServer.MODEL_ID)
            .put("max_tokens", 500)
            .put("n", 2)
            .put("ignore_eos", true)
            // Large chunks: the unread answer outgrows the sockets' buffers, so its engine pauses
            // it (credits) instead of finishing it on a fast machine.
            .put("logprobs", true)
            .put("top_logprobs", 5);
    HttpRequest post =
        HttpRequest.newBuilder(URI.create(gateway.url("/v1/chat/completions")))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(request.encode()))
            .build();
    HttpResponse<InputStream> response =
        gateway.http.send(post, HttpResponse.BodyHandlers.ofInputStream());
    assertEquals(200, response.statusCode());
    BufferedReader lines =
        new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8));
    String first = lines.readLine();
    while (first != null && !first.startsWith("data:")) {
      first = lines.readLine();
    }
    // The engine the stream runs on: it has it waiting, running, or paused for credits.
    TestServer busy = null;
    long found = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (busy == null) {
      for (TestServer e : new TestServer[] {engineA, engineB}) {
        var st = e.engine.stats();
        if (st.running() + st.waiting() > 0 || st.kvBlocksUsed() > 0) {
          busy = e;
        }
      }
      assertTrue(System.nanoTime() < found, "the stream is on neither engine");
      Thread.sleep(2);
    }
    TestServer survivor = busy == engineA ? engineB : engineA;
    long left = System.nanoTime();
    // Its Hazelcast member leaves; its engine and event bus go on, and the gateway must not wait.
    Hazelcast.getHazelcastInstanceByName(
            ClusterNode.instanceName("127.0.0.1", busy == engineA ? portA : portB))
        .shutdown();
    JsonObject error = null;
    boolean done = false;
    for (String line = lines.readLine(); line != null; line = lines.readLine()) {
      if (line.equals("data: [DONE]")) {
        done = true;
        break;
      }
      if (line.startsWith("data: ")) {
        JsonObject chunk = new JsonObject(line.substring(6));
        assertTrue(
            chunk.getJsonArray("choices") == null
                || chunk.getJsonArray("choices").isEmpty()
                || chunk.getJsonArray("choices").getJsonObject(0).getString("finish_reason")
                    == null,
            "the stream must not finish normally: " + line);
        if (chunk.getJsonObject("error") != null) {
          error = chunk.getJsonObject("error");
        }
      }
    }
    double seconds = (System.nanoTime() - left) / 1e9;
    assertTrue(done, "the stream ends with [DONE]");
    assertEquals("engine_unavailable", error.getString("code"), error.encode());
    assertTrue(seconds < 5, "the error came " + seconds + " s after the engine left");

    await(() -> gauge("llava:cluster_engines_up") == 1, "the gateway to count one engine");
    long before = survivor.engine.stats().requestsFinished();
    // While the cluster settles, the gateway may answer a retryable 503 (engine_unavailable) as it
    // tells clients to: a client that retries as told is served by the survivor within the
    // engine timeout.
    long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    HttpResponse<String> answer =
        gateway.post("/v1/chat/completions", chat(null, "Still there?", false).encode());
    while (answer.statusCode() == 503
        && answer.body().contains("engine_unavailable")
        && System.nanoTime() < until) {
      Thread.sleep(200);
      answer = gateway.post("/v1/chat/completions", chat(null, "Still there?", false).encode());
    }
    ok(answer);
    assertEquals(before + 1, survivor.engine.stats().requestsFinished());
  }

  private static JsonObject chat(String image, String question, boolean stream) {
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
        .put("max_tokens", 12)
        .put("stream", stream);
  }

  private static String ok(HttpResponse<String> r) {
    assertEquals(200, r.statusCode(), r.body());
    return r.body();
  }

  private static List<JsonObject> sse(TestServer server, String body) throws Exception {
    HttpResponse<String> r = server.post("/v1/chat/completions", body);
    assertEquals(200, r.statusCode(), r.body());
    List<JsonObject> chunks = new ArrayList<>();
    boolean done = false;
    for (String line : r.body().split("\n")) {
      if (line.equals("data: [DONE]")) {
        done = true;
      } else if (line.startsWith("data: ")) {
        chunks.add(new JsonObject(line.substring(6)));
      }
    }
    assertTrue(done, "the stream ends with [DONE]");
    return chunks;
  }

  private List<String> models() throws Exception {
    JsonArray data = new JsonObject(ok(gateway.get("/v1/models"))).getJsonArray("data");
    List<String> ids = new ArrayList<>();
    data.forEach(m -> ids.add(((JsonObject) m).getString("id")));
    return ids;
  }

  private double routed(String how) throws Exception {
    return metric("llava:cluster_routed_total{how=\"" + how + "\"");
  }

  private double gauge(String name) throws Exception {
    double v = metric(name + " ");
    return Double.isNaN(v) ? metric(name + "{") : v;
  }

  /**
   * The value of the first sample of the gateway's /metrics whose line starts with {@code prefix}.
   */
  private double metric(String prefix) throws Exception {
    for (String line : ok(gateway.get("/metrics")).split("\n")) {
      if (line.startsWith(prefix)) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return Double.NaN;
  }

  private static void await(BooleanSupplierWithException done, String what) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("waited 15 s for " + what);
      }
      Thread.sleep(50);
    }
  }

  private interface BooleanSupplierWithException {
    boolean getAsBoolean() throws Exception;
  }
}
