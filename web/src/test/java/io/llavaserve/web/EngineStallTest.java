package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.ServedModel;
import io.vertx.core.json.JsonObject;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model step that does not return makes /health and /ready answer 503 within the configured
 * bound; once it returns, both are 200 again and the request it held is answered.
 */
class EngineStallTest {

  @TempDir Path dir;

  /** {@code real}, except that every step waits for {@code release} to open. */
  static ModelRunner blocking(ModelRunner real, CountDownLatch release) {
    return (ModelRunner)
        Proxy.newProxyInstance(
            ModelRunner.class.getClassLoader(),
            new Class<?>[] {ModelRunner.class},
            (proxy, method, args) -> {
              if (method.getName().equals("execute")) {
                release.await();
              }
              try {
                return method.invoke(real, args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
            });
  }

  private static HttpResponse<String> get(HttpClient http, int port, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(10))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aStuckStepIsReportedByHealthAndReadiness() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (LlavaModel model =
            LlavaModel.load(
                TestServer.checkpoint(dir), ModelOptions.defaults().withKvCacheBytes(32L << 20));
        LlavaEngine engine =
            new LlavaEngine(
                blocking(model.runner(), release),
                model.tokenizer(),
                LlavaEngine.specOf(model),
                EngineConfig.defaults())) {
      LlavaServer server =
          LlavaServer.start(
              TestServer.config().engineStallSeconds(1).build(),
              new ServedModel(TestServer.MODEL_ID, model, engine),
              MediaConfig.defaults());
      try {
        HttpClient http = HttpClient.newHttpClient();
        assertEquals(200, get(http, server.port(), "/health").statusCode());
        CompletableFuture<HttpResponse<String>> held =
            http.sendAsync(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
                    .header("Content-Type", "application/json")
                    .POST(
                        HttpRequest.BodyPublishers.ofString(
                            ChatCompletionsTest.chat("hello", 2).encode()))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        HttpResponse<String> health = get(http, server.port(), "/health");
        while (health.statusCode() == 200 && System.nanoTime() < deadline) {
          Thread.sleep(100);
          health = get(http, server.port(), "/health");
        }
        assertEquals(503, health.statusCode(), health.body());
        JsonObject body = new JsonObject(health.body());
        assertEquals("stalled", body.getString("status"));
        assertTrue(
            body.getString("message").contains("server.engine-stall-seconds"), health.body());
        assertEquals(503, get(http, server.port(), "/ready").statusCode());

        release.countDown();
        assertEquals(200, held.get(30, TimeUnit.SECONDS).statusCode());
        assertEquals(200, get(http, server.port(), "/health").statusCode());
        assertEquals(200, get(http, server.port(), "/ready").statusCode());
      } finally {
        release.countDown();
        server.close();
      }
    }
  }
}
