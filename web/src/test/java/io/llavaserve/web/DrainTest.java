package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What SIGTERM does: stop accepting, let running streams finish, then close. */
class DrainTest {

  @TempDir Path dir;

  @Test
  void drainingRefusesNewWorkAndLetsRunningStreamsFinish() throws Exception {
    TestServer server = TestServer.start(dir);
    try {
      String body =
          "{\"stream\":true,\"max_tokens\":60,\"ignore_eos\":true,\"temperature\":0,"
              + "\"messages\":[{\"role\":\"user\",\"content\":\"tell me a story\"}]}";
      HttpRequest request =
          HttpRequest.newBuilder(URI.create(server.url("/v1/chat/completions")))
              .timeout(Duration.ofSeconds(60))
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(body))
              .build();
      HttpResponse<InputStream> stream =
          server.http.send(request, HttpResponse.BodyHandlers.ofInputStream());
      assertEquals(200, stream.statusCode());
      BufferedReader lines =
          new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8));
      String first = lines.readLine();
      assertTrue(first.startsWith("data: "), first);

      CompletableFuture<Void> drained = CompletableFuture.runAsync(server::drain);
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (server.server.state().phase() != ServerState.Phase.DRAINING
          && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertEquals(503, server.get("/ready").statusCode());
      HttpResponse<String> refused =
          server.post(
              "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      assertEquals(503, refused.statusCode(), refused.body());
      assertTrue(refused.body().contains("\"error\""), refused.body());

      // The running stream still ends properly.
      String line;
      String last = null;
      int chunks = 0;
      while ((line = lines.readLine()) != null) {
        if (line.startsWith("data: ")) {
          chunks++;
          last = line;
        }
      }
      assertEquals("data: [DONE]", last);
      assertTrue(chunks >= 60, "the stream was cut short: " + chunks + " chunks");
      drained.get();
      assertEquals(0, server.engine.stats().running());
    } finally {
      server.close();
    }
  }
}
