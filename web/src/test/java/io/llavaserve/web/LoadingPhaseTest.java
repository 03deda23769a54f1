package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.cli.ServingStack;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.web.media.MediaConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server answers before the model is loaded: alive, not ready, API 503. */
class LoadingPhaseTest {

  @TempDir Path dir;

  @Test
  void answers503UntilTheModelIsServed() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    // The launcher's order: bind, answer while the model loads, then serve.
    try (ServingStack stack = ServingStack.bind(TestServer.config().build())) {
      String base = "http://127.0.0.1:" + stack.server().port();
      assertEquals(200, get(http, base + "/health").statusCode());
      assertEquals(503, get(http, base + "/ready").statusCode());
      HttpResponse<String> models = get(http, base + "/v1/models");
      assertEquals(503, models.statusCode());
      assertTrue(models.body().contains("loading"), models.body());
      HttpResponse<String> chat =
          http.send(
              HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                  .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(503, chat.statusCode());
      assertTrue(chat.body().contains("\"error\""), chat.body());

      stack
          .load(TestServer.checkpoint(dir), ModelOptions.defaults().withKvCacheBytes(8L << 20))
          .startEngine(EngineConfig.defaults())
          .serve("tiny", MediaConfig.defaults());
      assertEquals(200, get(http, base + "/ready").statusCode());
      HttpResponse<String> served = get(http, base + "/v1/models");
      assertEquals(200, served.statusCode());
      assertTrue(served.body().contains("\"tiny\""), served.body());
    }
  }

  private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create(url)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
