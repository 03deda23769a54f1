package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CORS by allow-list, off by default; per-key request rates over HTTP. */
class CorsAndKeyLimitsTest {

  @TempDir Path dir;

  private static HttpResponse<String> preflight(TestServer s, String origin) throws Exception {
    HttpRequest r =
        HttpRequest.newBuilder(URI.create(s.url("/v1/chat/completions")))
            .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,authorization")
            .build();
    return s.http.send(r, HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void allowedOriginsGetCorsHeadersOthersAreRefused() throws Exception {
    try (TestServer s =
        TestServer.on(dir).apiKeys("k1").corsAllowedOrigins("https://app.example").start()) {
      HttpResponse<String> ok = preflight(s, "https://app.example");
      assertTrue(ok.statusCode() == 200 || ok.statusCode() == 204, "status " + ok.statusCode());
      assertEquals(
          "https://app.example",
          ok.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
      assertEquals(403, preflight(s, "https://evil.example").statusCode());
      HttpResponse<String> models =
          s.get("/v1/models", "Origin", "https://app.example", "Authorization", "Bearer k1");
      assertEquals(200, models.statusCode());
      assertEquals(
          "https://app.example",
          models.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
    }
  }

  @Test
  void corsIsOffByDefault() throws Exception {
    try (TestServer s = TestServer.start(dir)) {
      HttpResponse<String> models = s.get("/v1/models", "Origin", "https://app.example");
      assertEquals(200, models.statusCode());
      assertTrue(models.headers().firstValue("Access-Control-Allow-Origin").isEmpty());
    }
  }

  @Test
  void aKeyOverItsRateGets429WithRetryAfterAndOtherKeysGoOn() throws Exception {
    HttpLimits limits = new HttpLimits(4096, 8192, 4096, 300, 60, 0, 3);
    try (TestServer s = TestServer.on(dir).apiKeys("k1", "k2").http(limits).start()) {
      for (int i = 0; i < 3; i++) {
        assertEquals(200, s.get("/v1/models", "Authorization", "Bearer k1").statusCode());
      }
      HttpResponse<String> over = s.get("/v1/models", "Authorization", "Bearer k1");
      assertEquals(429, over.statusCode(), over.body());
      assertTrue(over.headers().firstValue("Retry-After").isPresent());
      assertTrue(over.body().contains("server.api-key-requests-per-minute"), over.body());
      assertTrue(!over.body().contains("k1"), "the key is not echoed: " + over.body());
      assertEquals(200, s.get("/v1/models", "Authorization", "Bearer k2").statusCode());
    }
  }
}
