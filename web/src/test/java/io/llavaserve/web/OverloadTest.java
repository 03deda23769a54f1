package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** With one running sequence and one waiting place, a flood gets 429 with Retry-After. */
class OverloadTest {

  @TempDir static Path dir;
  static TestServer s;

  @BeforeAll
  static void start() throws Exception {
    SchedulerConfig sc = SchedulerConfig.defaults().withMaxNumSeqs(1).withWaitingLimits(1, 1 << 20);
    s = TestServer.on(dir).scheduler(sc).start();
  }

  @AfterAll
  static void stop() {
    s.close();
  }

  @Test
  void floodGets429WithRetryAfter() throws Exception {
    String body = ChatCompletionsTest.chat("Go on and on", 60).put("ignore_eos", true).encode();
    List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      HttpRequest r =
          HttpRequest.newBuilder(URI.create(s.url("/v1/chat/completions")))
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(body))
              .build();
      all.add(s.http.sendAsync(r, HttpResponse.BodyHandlers.ofString()));
    }
    int ok = 0;
    int rejected = 0;
    for (CompletableFuture<HttpResponse<String>> f : all) {
      HttpResponse<String> r = f.get();
      if (r.statusCode() == 200) {
        ok++;
      } else {
        assertEquals(429, r.statusCode(), r.body());
        assertTrue(Integer.parseInt(r.headers().firstValue("Retry-After").orElseThrow()) >= 1);
        JsonObject err = new JsonObject(r.body()).getJsonObject("error");
        assertTrue(err.getString("message").contains("waiting"), r.body());
        rejected++;
      }
    }
    assertTrue(ok >= 1, "some requests are served");
    assertTrue(rejected >= 1, "some requests are refused");
    assertEquals(200, s.post("/v1/chat/completions", body).statusCode());
  }
}
