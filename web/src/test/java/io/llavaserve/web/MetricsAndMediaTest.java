package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.web.media.MediaConfig;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code /metrics} as a scraper sees it, and image URLs fetched through the server. */
class MetricsAndMediaTest {

  @TempDir static Path dir;
  static TestServer server;
  static Vertx images;
  static HttpServer imageServer;
  static byte[] png;

  @BeforeAll
  static void start() throws Exception {
    // Loopback is allowed here only because the image server is local to the test.
    MediaConfig media = new MediaConfig(true, List.of(), 1 << 20, Duration.ofSeconds(5), 2, true);
    server = TestServer.on(dir).media(media).start();
    String uri = TestServer.pngDataUri(40, 30);
    png = Base64.getDecoder().decode(uri.substring(uri.indexOf(',') + 1));
    images = Vertx.vertx();
    imageServer =
        images
            .createHttpServer()
            .requestHandler(
                req -> {
                  switch (req.path()) {
                    case "/cat.png" ->
                        req.response()
                            .putHeader("Content-Type", "image/png")
                            .end(Buffer.buffer(png));
                    case "/moved" ->
                        req.response().setStatusCode(302).putHeader("Location", "/cat.png").end();
                    case "/huge" ->
                        req.response().putHeader("Content-Length", String.valueOf(5 << 20)).end();
                    default -> req.response().setStatusCode(404).end();
                  }
                })
            .listen(0, "127.0.0.1")
            .toCompletionStage()
            .toCompletableFuture()
            .get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() throws Exception {
    server.close();
    images.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  static String chatWithImage(String url) {
    return new JsonObject()
        .put("max_tokens", 3)
        .put("temperature", 0)
        .put(
            "messages",
            List.of(
                new JsonObject()
                    .put("role", "user")
                    .put(
                        "content",
                        List.of(
                            new JsonObject()
                                .put("type", "image_url")
                                .put("image_url", new JsonObject().put("url", url)),
                            new JsonObject().put("type", "text").put("text", "What is this?")))))
        .encode();
  }

  String imageUrl(String path) {
    return "http://127.0.0.1:" + imageServer.actualPort() + path;
  }

  @Test
  void imageUrlsAreFetchedFollowingRedirects() throws Exception {
    HttpResponse<String> direct =
        server.post("/v1/chat/completions", chatWithImage(imageUrl("/cat.png")));
    assertEquals(200, direct.statusCode(), direct.body());
    HttpResponse<String> moved =
        server.post("/v1/chat/completions", chatWithImage(imageUrl("/moved")));
    assertEquals(200, moved.statusCode(), moved.body());
    // Same image both times: the same prompt, so the same greedy answer.
    assertEquals(
        new JsonObject(direct.body())
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message")
            .getString("content"),
        new JsonObject(moved.body())
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message")
            .getString("content"));
  }

  @Test
  void imageUrlFailuresAreClientErrorsNamingTheField() throws Exception {
    HttpResponse<String> huge =
        server.post("/v1/chat/completions", chatWithImage(imageUrl("/huge")));
    assertEquals(413, huge.statusCode(), huge.body());
    assertEquals(
        "image_url", new JsonObject(huge.body()).getJsonObject("error").getString("param"));
    HttpResponse<String> missing =
        server.post("/v1/chat/completions", chatWithImage(imageUrl("/nothing")));
    assertEquals(400, missing.statusCode(), missing.body());
    HttpResponse<String> scheme =
        server.post("/v1/chat/completions", chatWithImage("ftp://example.com/a.png"));
    assertEquals(400, scheme.statusCode(), scheme.body());
    assertEquals(200, server.get("/health").statusCode());
  }

  @Test
  void metricsExposeEngineAndRequestSeries() throws Exception {
    HttpResponse<String> ok =
        server.post(
            "/v1/chat/completions",
            "{\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals(200, ok.statusCode(), ok.body());
    server.post(
        "/v1/chat/completions",
        "{\"temperature\":9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    HttpResponse<String> m = server.get("/metrics");
    assertEquals(200, m.statusCode());
    assertTrue(m.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
    String text = m.body();
    for (String name :
        List.of(
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:gpu_cache_usage_perc",
            "vllm:time_to_first_token_seconds_bucket",
            "vllm:time_per_output_token_seconds_count",
            "vllm:e2e_request_latency_seconds_sum",
            "vllm:request_queue_time_seconds_count",
            "vllm:prefix_cache_hits_total",
            "jvm_memory_used_bytes")) {
      assertTrue(text.contains(name), "missing " + name);
    }
    assertTrue(value(text, "vllm:generation_tokens_total") >= 4, "generation tokens counted");
    assertTrue(
        value(text, "vllm:request_success_total\\{[^}]*finished_reason=\"length\"[^}]*\\}") >= 1);
    assertTrue(value(text, "llava:requests_rejected_total\\{[^}]*reason=\"invalid\"[^}]*\\}") >= 1);
    // The kernels the model runs, as labels: the test model's float32 matmuls, and the vector
    // path the native kernels chose on this CPU (or none without them).
    String path = io.llavaserve.engine.graph.NativeKernels.vectorPath();
    assertEquals(
        1.0,
        value(
            text,
            "llava:kernels\\{[^}]*cpu_path=\"(?:"
                + path
                + "|none)\"[^}]*matmul=\"float32-(?:native-"
                + path
                + "|stock)\"[^}]*\\}"),
        text);
  }

  /** The value of the first sample whose name (and labels) match {@code regex}. */
  static double value(String text, String regex) {
    Matcher m = Pattern.compile("(?m)^" + regex + "(\\{[^}]*\\})? ([0-9.eE+-]+)$").matcher(text);
    assertTrue(m.find(), "no sample " + regex);
    return Double.parseDouble(m.group(2));
  }
}
