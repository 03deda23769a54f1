package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.ServedModel;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server answers before the model is loaded: alive, not ready, API 503. */
class LoadingPhaseTest {

  @TempDir Path dir;

  @Test
  void answers503UntilTheModelIsServed() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    try (LlavaServer server = LlavaServer.bind(TestServer.config(List.of(), 1 << 20))) {
      String base = "http://127.0.0.1:" + server.port();
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

      Path ckpt = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny());
      LlavaModel model = LlavaModel.load(ckpt, ModelOptions.defaults().withKvCacheBytes(8L << 20));
      try {
        LlavaEngine engine = LlavaEngine.start(model, EngineConfig.defaults());
        server.serve(new ServedModel("tiny", model, engine), MediaConfig.defaults());
        assertEquals(200, get(http, base + "/ready").statusCode());
        HttpResponse<String> served = get(http, base + "/v1/models");
        assertEquals(200, served.statusCode());
        assertTrue(served.body().contains("\"tiny\""), served.body());
      } finally {
        server.close();
        model.close();
      }
    }
  }

  private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create(url)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
