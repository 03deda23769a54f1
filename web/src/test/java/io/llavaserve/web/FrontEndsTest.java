package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.VertxOptions;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Several front ends (one verticle per event loop) share one port and all serve the API. */
class FrontEndsTest {

  @TempDir Path dir;

  @Test
  void theDefaultIsOneFrontEndPerEventLoop() throws Exception {
    try (TestServer s = TestServer.start(dir)) {
      assertEquals(VertxOptions.DEFAULT_EVENT_LOOP_POOL_SIZE, s.server.instances());
    }
  }

  @Test
  void everyConnectionIsServedWhicheverFrontEndTakesIt() throws Exception {
    try (TestServer s = TestServer.on(dir).instances(3).start()) {
      assertEquals(3, s.server.instances());
      String body =
          "{\"model\":\"tiny-test\",\"max_tokens\":3,\"temperature\":0,"
              + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
      List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        // A client of its own per request: a new connection, handed to the next front end.
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        answers.add(
            client.sendAsync(
                HttpRequest.newBuilder(URI.create(s.url("/v1/chat/completions")))
                    .timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString()));
      }
      String first = null;
      for (CompletableFuture<HttpResponse<String>> a : answers) {
        HttpResponse<String> r = a.get();
        assertEquals(200, r.statusCode(), r.body());
        String content =
            new io.vertx.core.json.JsonObject(r.body())
                .getJsonArray("choices")
                .getJsonObject(0)
                .getJsonObject("message")
                .getString("content");
        first = first == null ? content : first;
        assertEquals(first, content, "the same greedy answer from every front end");
      }
      s.awaitIdle();
    }
  }

  @Test
  void oneFrontEndServesAlone() throws Exception {
    try (TestServer s = TestServer.on(dir).instances(1).start()) {
      assertEquals(1, s.server.instances());
      assertEquals(200, s.get("/v1/models").statusCode());
    }
  }
}
