package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The WebSocket client against a stand-in server that speaks the {@code /v1/ws} protocol. */
@Timeout(20)
class WsBenchClientTest {

  private final Vertx vertx = Vertx.vertx();
  private final HttpClient http = HttpClient.newHttpClient();

  @AfterEach
  void close() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /**
   * Answers each chat frame on {@code wsPath} with {@code tokens} token frames and a done frame
   * with usage; any other path gets 404.
   */
  private URI server(String wsPath, int tokens) throws Exception {
    HttpServer server =
        vertx
            .createHttpServer()
            .requestHandler(
                req -> {
                  if (!req.path().equals(wsPath)) {
                    req.response().setStatusCode(404).end();
                    return;
                  }
                  req.toWebSocket()
                      .onSuccess(
                          ws ->
                              ws.textMessageHandler(
                                  text -> {
                                    JsonObject in = new JsonObject(text);
                                    String id = in.getString("id");
                                    for (int i = 0; i < tokens; i++) {
                                      ws.writeTextMessage(token(id, i));
                                    }
                                    JsonObject usage =
                                        new JsonObject()
                                            .put("prompt_tokens", 9)
                                            .put("completion_tokens", tokens);
                                    ws.writeTextMessage(
                                        new JsonObject()
                                            .put("type", "done")
                                            .put("id", id)
                                            .put("finish_reason", "length")
                                            .put("usage", usage)
                                            .encode());
                                  }));
                })
            .listen(0, "127.0.0.1")
            .toCompletionStage()
            .toCompletableFuture()
            .get(10, TimeUnit.SECONDS);
    return URI.create("http://127.0.0.1:" + server.actualPort());
  }

  private static String token(String id, int index) {
    return new JsonObject()
        .put("type", "token")
        .put("id", id)
        .put("index", index)
        .put("text", "t" + index)
        .put("token_id", 100 + index)
        .encode();
  }

  @Test
  void countsTokenFramesAndReadsUsageFromTheDoneFrame() throws Exception {
    URI base = server("/v1/ws", 5);
    BenchPrompts.Prompt prompt = new BenchPrompts(1, 8, false).next("p", 1).get(0);
    JsonObject frame = WsBenchClient.frame(prompt.id(), BenchPrompts.chatBody(prompt, 5));

    try (WsBenchClient client = WsBenchClient.connect(http, base)) {
      BenchStats.Trace first = client.send(frame);
      BenchStats.Trace second = client.send(frame.copy().put("id", "again"));

      for (BenchStats.Trace t : List.of(first, second)) {
        assertNull(t.error());
        assertEquals(5, t.tokenEvents());
        assertEquals(5, t.usageTokens());
        assertTrue(t.ttftMs() >= 0 && t.e2eMs() >= t.ttftMs(), t.toString());
      }
    }
    assertEquals("chat", frame.getString("type"));
    assertEquals(prompt.id(), frame.getString("id"));
    assertEquals(Boolean.TRUE, frame.getBoolean("ignore_eos"));
  }

  @Test
  void aServerWithoutTheEndpointIsReportedAsNotAvailable() throws Exception {
    URI base = server("/v2/ws", 1);

    WsBenchClient.NotAvailable e =
        assertThrows(WsBenchClient.NotAvailable.class, () -> WsBenchClient.connect(http, base));
    assertEquals("websocket: not available on this server", e.getMessage());
  }
}
