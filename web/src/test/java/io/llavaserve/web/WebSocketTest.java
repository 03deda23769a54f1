package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code /v1/ws}: requests multiplexed on one socket, cancel, close, bad frames and API keys. */
class WebSocketTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  /** A socket whose text messages queue up as JSON objects. */
  static final class Client implements WebSocket.Listener, AutoCloseable {
    final LinkedBlockingQueue<JsonObject> frames = new LinkedBlockingQueue<>();
    final java.util.concurrent.CompletableFuture<Integer> closed =
        new java.util.concurrent.CompletableFuture<>();
    private final StringBuilder partial = new StringBuilder();
    WebSocket socket;

    static Client open(TestServer server, String query, String... headers) {
      Client c = new Client();
      WebSocket.Builder b = server.http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5));
      for (int i = 0; i + 1 < headers.length; i += 2) {
        b.header(headers[i], headers[i + 1]);
      }
      URI uri = URI.create("ws://127.0.0.1:" + server.server.port() + "/v1/ws" + query);
      c.socket = b.buildAsync(uri, c).join();
      return c;
    }

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        frames.add(new JsonObject(partial.toString()));
        partial.setLength(0);
      }
      ws.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
      closed.complete(statusCode);
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      closed.complete(-1);
    }

    void send(JsonObject frame) {
      send(frame.encode());
    }

    void send(String text) {
      socket.sendText(text, true).join();
    }

    JsonObject next() throws InterruptedException {
      JsonObject f = frames.poll(20, TimeUnit.SECONDS);
      assertNotNull(f, "no frame within 20 s");
      return f;
    }

    /** Reads until a frame matches, keeping the others in {@code seen}. */
    JsonObject until(Predicate<JsonObject> p, List<JsonObject> seen) throws InterruptedException {
      while (true) {
        JsonObject f = next();
        if (p.test(f)) {
          return f;
        }
        seen.add(f);
      }
    }

    @Override
    public void close() {
      socket.abort();
    }
  }

  static JsonObject chat(String id, String content, int maxTokens) {
    return ChatCompletionsTest.chat(content, maxTokens).put("type", "chat").put("id", id);
  }

  static Predicate<JsonObject> ends(String id) {
    return f -> id.equals(f.getString("id")) && !f.getString("type").equals("token");
  }

  static void awaitBlocksFreed() throws InterruptedException {
    assertEquals(0, server.get().awaitIdle().kvBlocksUsed());
    assertEquals(0, server.get().server.state().inFlight());
  }

  @Test
  void oneRequestStreamsTokensThenDoneWithUsage() throws Exception {
    try (Client c = Client.open(server.get(), "")) {
      c.send(chat("a", "Hello there", 8).put("logprobs", true).put("top_logprobs", 2));
      List<JsonObject> tokens = new ArrayList<>();
      JsonObject done = c.until(ends("a"), tokens);
      assertEquals("done", done.getString("type"), done.encode());
      assertEquals(8, tokens.size());
      for (int i = 0; i < tokens.size(); i++) {
        JsonObject t = tokens.get(i);
        assertEquals("token", t.getString("type"));
        assertEquals("a", t.getString("id"));
        assertEquals(i, t.getInteger("index"));
        assertNotNull(t.getString("text"));
        assertNotNull(t.getInteger("token_id"));
        assertTrue(t.getDouble("logprob") <= 0);
        assertEquals(2, t.getJsonArray("top_logprobs").size());
        assertNotNull(t.getJsonArray("top_logprobs").getJsonObject(0).getString("token"));
      }
      assertEquals("length", done.getString("finish_reason"));
      assertNotNull(done.getString("text"));
      JsonObject usage = done.getJsonObject("usage");
      assertEquals(8, usage.getInteger("completion_tokens"));
      assertTrue(usage.getInteger("prompt_tokens") > 0);
      assertEquals(usage.getInteger("prompt_tokens") + 8, (int) usage.getInteger("total_tokens"));
      assertNotNull(usage.getJsonObject("prompt_tokens_details").getInteger("cached_tokens"));
    }
  }

  @Test
  void fourRequestsInterleaveAndMatchHttp() throws Exception {
    String[] prompts = {"Tell me a story", "Count to ten", "What is red?", "Describe the sea"};
    int maxTokens = 40;
    try (Client c = Client.open(server.get(), "")) {
      for (int i = 0; i < prompts.length; i++) {
        c.send(chat("r" + i, prompts[i], maxTokens).put("ignore_eos", true));
      }
      Map<String, StringBuilder> texts = new HashMap<>();
      List<String> order = new ArrayList<>();
      int done = 0;
      while (done < prompts.length) {
        JsonObject f = c.next();
        String id = f.getString("id");
        texts.computeIfAbsent(id, k -> new StringBuilder()).append(f.getString("text"));
        if (f.getString("type").equals("token")) {
          order.add(id);
        } else {
          assertEquals("done", f.getString("type"), f.encode());
          done++;
        }
      }
      assertEquals(prompts.length * maxTokens, order.size());
      int switches = 0;
      for (int i = 1; i < order.size(); i++) {
        switches += order.get(i).equals(order.get(i - 1)) ? 0 : 1;
      }
      assertTrue(switches > prompts.length, "token frames of the requests interleave: " + order);
      for (int i = 0; i < prompts.length; i++) {
        HttpResponse<String> r =
            server
                .get()
                .post(
                    "/v1/chat/completions",
                    ChatCompletionsTest.chat(prompts[i], maxTokens)
                        .put("ignore_eos", true)
                        .encode());
        assertEquals(200, r.statusCode(), r.body());
        String http =
            new JsonObject(r.body())
                .getJsonArray("choices")
                .getJsonObject(0)
                .getJsonObject("message")
                .getString("content");
        assertEquals(http, texts.get("r" + i).toString(), "request r" + i);
      }
    }
  }

  @Test
  void cancelAbortsOneRequestWhileAnotherCompletes() throws Exception {
    try (Client c = Client.open(server.get(), "")) {
      c.send(chat("long", "Write a long story", 500).put("ignore_eos", true));
      c.send(chat("short", "Hi", 30).put("ignore_eos", true));
      List<JsonObject> seen = new ArrayList<>();
      c.until(f -> "long".equals(f.getString("id")) && f.getInteger("index", -1) >= 2, seen);
      assertTrue(server.get().engine.stats().kvBlocksUsed() > 0);
      c.send(new JsonObject().put("type", "cancel").put("id", "long"));
      JsonObject aborted = c.until(ends("long"), seen);
      assertEquals("done", aborted.getString("type"), aborted.encode());
      assertEquals("abort", aborted.getString("finish_reason"));
      JsonObject shortDone = c.until(ends("short"), seen);
      assertEquals("length", shortDone.getString("finish_reason"), shortDone.encode());
      assertEquals(30, shortDone.getJsonObject("usage").getInteger("completion_tokens"));
      awaitBlocksFreed();
      // Cancelling again: the request is over.
      c.send(new JsonObject().put("type", "cancel").put("id", "long"));
      JsonObject err = c.until(ends("long"), seen);
      assertEquals(404, err.getJsonObject("error").getInteger("status"), err.encode());
    }
  }

  @Test
  void closingTheSocketAbortsItsRequests() throws Exception {
    long generatedBefore = server.get().engine.stats().tokensGenerated();
    try (Client c = Client.open(server.get(), "")) {
      c.send(chat("x", "Write a long story", 500).put("ignore_eos", true));
      c.send(chat("y", "Write another story", 500).put("ignore_eos", true));
      c.until(f -> f.getInteger("index", -1) >= 3, new ArrayList<>());
      assertTrue(server.get().engine.stats().kvBlocksUsed() > 0);
    }
    awaitBlocksFreed();
    long generated = server.get().engine.stats().tokensGenerated() - generatedBefore;
    assertTrue(generated < 1000, "the requests were aborted, not run to the end: " + generated);
  }

  @Test
  void badFramesGetErrorsNamingTheFieldAndTheSocketGoesOn() throws Exception {
    try (Client c = Client.open(server.get(), "")) {
      c.send("{not json");
      JsonObject e = c.next();
      assertEquals("error", e.getString("type"));
      assertTrue(e.containsKey("id") && e.getValue("id") == null, e.encode());
      assertEquals(400, e.getJsonObject("error").getInteger("status"));

      c.send(chat("z", "Hi", 4).put("id", (String) null));
      assertError(c.next(), null, "id");
      String tooLong = "x".repeat(129);
      c.send(chat("z", "Hi", 4).put("id", tooLong));
      assertError(c.next(), tooLong, "id"); // echoed so that the client can tell which frame

      c.send(chat("dup", "Write a long story", 500).put("ignore_eos", true));
      c.send(chat("dup", "Hi", 4));
      List<JsonObject> seen = new ArrayList<>();
      assertError(c.until(ends("dup"), seen), "dup", "id");
      c.send(new JsonObject().put("type", "cancel").put("id", "dup"));
      assertEquals("abort", c.until(ends("dup"), seen).getString("finish_reason"));

      c.send(new JsonObject().put("type", "shout").put("id", "t"));
      assertError(c.until(ends("t"), seen), "t", "type");
      c.send(chat("temp", "Hi", 4).put("temperature", 9));
      assertError(c.until(ends("temp"), seen), "temp", "temperature");
      c.send(new JsonObject().put("id", "nomsg").put("type", "chat"));
      assertError(c.until(ends("nomsg"), seen), "nomsg", "messages");

      c.send(chat("ok", "Hi", 4));
      JsonObject done = c.until(ends("ok"), seen);
      assertEquals("done", done.getString("type"), done.encode());
      assertEquals(4, done.getJsonObject("usage").getInteger("completion_tokens"));
    }
    awaitBlocksFreed();
  }

  @Test
  void aFrameOverTheBodyLimitClosesTheSocket() throws Exception {
    try (Client c = Client.open(server.get(), "")) {
      String big = "x".repeat((1 << 20) + 1);
      c.socket.sendText(chat("big", big, 4).encode(), true);
      assertEquals(1009, c.closed.get(10, TimeUnit.SECONDS));
      assertTrue(c.frames.isEmpty(), "no request ran: " + c.frames);
    }
    awaitBlocksFreed();
  }

  static void assertError(JsonObject frame, String id, String param) {
    assertEquals("error", frame.getString("type"), frame.encode());
    assertEquals(id, frame.getString("id"), frame.encode());
    JsonObject error = frame.getJsonObject("error");
    assertEquals(param, error.getString("param"), frame.encode());
    assertEquals(400, error.getInteger("status"), frame.encode());
    assertFalse(error.getString("message").isEmpty());
  }

  @Test
  void apiKeysAndThePerSocketLimit(@TempDir Path keyed) throws Exception {
    try (TestServer k =
        TestServer.on(keyed).apiKeys("sk-secret").wsMaxRequestsPerSocket(1).start()) {
      assertEquals(401, refused(k, "").statusCode());
      assertEquals(401, refused(k, "?api_key=sk-wrong").statusCode());
      assertEquals(401, refused(k, "", "Authorization", "Bearer sk-wrong").statusCode());
      try (Client c = Client.open(k, "", "Authorization", "Bearer sk-secret")) {
        c.send(chat("a", "Write a long story", 500).put("ignore_eos", true));
        c.send(chat("b", "Hi", 4));
        JsonObject e = c.until(ends("b"), new ArrayList<>());
        assertEquals("error", e.getString("type"), e.encode());
        assertEquals(429, e.getJsonObject("error").getInteger("status"));
        assertTrue(e.getJsonObject("error").getString("message").contains("ws-max-requests"));
      }
      try (Client c = Client.open(k, "?api_key=sk-secret")) {
        c.send(chat("a", "Hi", 3));
        JsonObject done = c.until(ends("a"), new ArrayList<>());
        assertEquals("done", done.getString("type"), done.encode());
      }
    }
  }

  static HttpResponse<?> refused(TestServer server, String query, String... headers) {
    CompletionException e =
        assertThrows(CompletionException.class, () -> Client.open(server, query, headers));
    assertTrue(e.getCause() instanceof WebSocketHandshakeException, e.toString());
    return ((WebSocketHandshakeException) e.getCause()).getResponse();
  }
}
