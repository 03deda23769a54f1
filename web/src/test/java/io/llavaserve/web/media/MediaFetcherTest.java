package io.llavaserve.web.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Fetches from a real Vert.x server on 127.0.0.1. */
class MediaFetcherTest {

  private static final int CAP = 1000;
  private static final byte[] IMAGE = new byte[700];

  private static Vertx vertx;
  private static HttpServer server;
  private static int port;
  private static final AtomicInteger connections = new AtomicInteger();
  private static final AtomicInteger requests = new AtomicInteger();

  @BeforeAll
  static void startServer() throws Exception {
    for (int i = 0; i < IMAGE.length; i++) {
      IMAGE[i] = (byte) i;
    }
    vertx = Vertx.vertx();
    server =
        vertx
            .createHttpServer()
            .connectionHandler(c -> connections.incrementAndGet())
            .requestHandler(
                req -> {
                  requests.incrementAndGet();
                  HttpServerResponse res = req.response();
                  String path = req.path();
                  switch (path) {
                    case "/ok" ->
                        res.putHeader("Content-Type", "image/png").end(Buffer.buffer(IMAGE));
                    case "/host" -> res.end(req.getHeader("Host"));
                    case "/big-length" -> {
                      // announces more than the cap, sends a little, and never finishes
                      res.putHeader("Content-Length", "10000000");
                      res.write(Buffer.buffer(new byte[100]));
                    }
                    case "/big-chunked" -> {
                      res.setChunked(true);
                      res.write(Buffer.buffer(new byte[600]));
                      vertx.setTimer(50, t -> res.write(Buffer.buffer(new byte[600])));
                    }
                    case "/slow" -> {} // never answers
                    case "/redirect" -> res.setStatusCode(302).putHeader("Location", "/ok").end();
                    case "/metadata" ->
                        res.setStatusCode(302)
                            .putHeader("Location", "http://169.254.169.254/latest/meta-data/")
                            .end();
                    case "/missing" -> res.setStatusCode(404).end();
                    case "/broken" -> res.setStatusCode(500).end();
                    default -> {
                      if (path.startsWith("/loop/")) {
                        int n = Integer.parseInt(path.substring("/loop/".length()));
                        res.setStatusCode(301).putHeader("Location", "/loop/" + (n + 1)).end();
                      } else {
                        res.setStatusCode(404).end();
                      }
                    }
                  }
                })
            .listen(0, "127.0.0.1")
            .toCompletionStage()
            .toCompletableFuture()
            .get(10, TimeUnit.SECONDS);
    port = server.actualPort();
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @BeforeEach
  void resetCounts() {
    connections.set(0);
    requests.set(0);
  }

  private static MediaConfig config(boolean allowPrivate, Duration timeout) {
    return new MediaConfig(true, List.of(), CAP, timeout, 3, allowPrivate);
  }

  private static String url(String path) {
    return "http://127.0.0.1:" + port + path;
  }

  private static byte[] fetch(MediaConfig config, String url) throws Exception {
    MediaFetcher fetcher = new MediaFetcher(vertx, config);
    try {
      return await(fetcher.fetch(url));
    } finally {
      fetcher.close();
    }
  }

  private static <T> T await(Future<T> f) throws Exception {
    try {
      return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw (Exception) e.getCause();
    }
  }

  private static MediaFetchException refused(MediaConfig config, String url) {
    return assertThrows(MediaFetchException.class, () -> fetch(config, url));
  }

  @Test
  void fetchesTheBody() throws Exception {
    assertArrayEquals(IMAGE, fetch(config(true, Duration.ofSeconds(5)), url("/ok")));
  }

  @Test
  void sendsTheOriginalHostHeaderWhileDiallingTheCheckedAddress() throws Exception {
    byte[] host = fetch(config(true, Duration.ofSeconds(5)), "http://localhost:" + port + "/host");
    assertEquals("localhost:" + port, new String(host, java.nio.charset.StandardCharsets.UTF_8));
  }

  @Test
  void contentLengthOverTheCapFailsWithoutReadingTheBody() {
    long start = System.nanoTime();
    MediaFetchException e = refused(config(true, Duration.ofSeconds(5)), url("/big-length"));
    assertEquals(413, e.status());
    // the server never finishes: only the header check can end it before the time cap
    assertTrue(System.nanoTime() - start < 3_000_000_000L);
  }

  @Test
  void chunkedBodyOverTheCapFailsWhenTheCapIsCrossed() {
    long start = System.nanoTime();
    MediaFetchException e = refused(config(true, Duration.ofSeconds(5)), url("/big-chunked"));
    assertEquals(413, e.status());
    assertTrue(e.getMessage().contains("1000 bytes"), e.getMessage());
    assertTrue(System.nanoTime() - start < 3_000_000_000L);
  }

  @Test
  void slowServerHitsTheTimeCap() {
    long start = System.nanoTime();
    MediaFetchException e = refused(config(true, Duration.ofMillis(300)), url("/slow"));
    assertEquals(504, e.status());
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertTrue(ms >= 250 && ms < 3000, ms + " ms");
  }

  @Test
  void followsARedirect() throws Exception {
    assertArrayEquals(IMAGE, fetch(config(true, Duration.ofSeconds(5)), url("/redirect")));
    assertEquals(2, requests.get());
  }

  @Test
  void redirectChainLongerThanTheLimitIsRefused() {
    MediaFetchException e = refused(config(true, Duration.ofSeconds(5)), url("/loop/0"));
    assertEquals(400, e.status());
    assertTrue(e.getMessage().contains("more than 3"), e.getMessage());
    assertEquals(4, requests.get()); // the first request and three redirects
  }

  @Test
  void redirectToTheMetadataAddressIsRefusedBeforeConnecting() {
    // 169.254.169.254 stays refused even with allowPrivateAddresses; were it dialled, nothing here
    // answers it and the fetch would run into the time cap instead of failing at once
    long start = System.nanoTime();
    MediaFetchException e = refused(config(true, Duration.ofSeconds(5)), url("/metadata"));
    assertEquals(400, e.status());
    assertTrue(e.getMessage().contains("169.254.169.254"), e.getMessage());
    assertTrue(e.getMessage().contains("metadata"), e.getMessage());
    assertTrue(System.nanoTime() - start < 3_000_000_000L);
    assertEquals(1, requests.get());
  }

  @Test
  void loopbackIsRefusedBeforeAnyConnection() {
    for (String u : List.of(url("/ok"), "http://localhost:" + port + "/ok")) {
      MediaFetchException e = refused(config(false, Duration.ofSeconds(5)), u);
      assertEquals(400, e.status());
      assertTrue(e.getMessage().contains("loopback"), e.getMessage());
    }
    assertEquals(0, connections.get());
  }

  @Test
  void upstreamErrorsMapToClientAndGatewayStatuses() {
    assertEquals(400, refused(config(true, Duration.ofSeconds(5)), url("/missing")).status());
    assertEquals(502, refused(config(true, Duration.ofSeconds(5)), url("/broken")).status());
  }

  @Test
  void disabledByDefault() {
    MediaFetchException e = refused(MediaConfig.defaults(), url("/ok"));
    assertEquals(400, e.status());
    assertTrue(e.getMessage().contains("data:image"), e.getMessage());
    assertEquals(0, connections.get());
  }

  @Test
  void unknownHostIsRefused() {
    MediaFetchException e =
        refused(config(false, Duration.ofSeconds(5)), "http://no-such-host.invalid/a.png");
    assertEquals(400, e.status());
  }
}
