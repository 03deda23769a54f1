package io.llavaserve.web;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.scheduler.SchedulerConfig;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.RequestLimits;
import io.llavaserve.web.openai.ServedModel;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import javax.imageio.ImageIO;

/** A real server on the tiny model, on a free port, with a plain HTTP client. */
public final class TestServer implements AutoCloseable {

  static final String MODEL_ID = "tiny-test";

  final LlavaModel model;
  final LlavaEngine engine;
  final LlavaServer server;

  io.llavaserve.web.openai.ServedModel served() {
    return server.served();
  }

  public final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private TestServer(LlavaModel model, LlavaEngine engine, LlavaServer server) {
    this.model = model;
    this.engine = engine;
    this.server = server;
  }

  static ServerConfig config(List<String> keys, long maxBody) {
    return new ServerConfig("127.0.0.1", 0, keys, maxBody, 5, new RequestLimits(2, 512, 2048));
  }

  static TestServer start(Path dir, ServerConfig config, SchedulerConfig scheduler)
      throws Exception {
    return start(dir, config, scheduler, MediaConfig.defaults());
  }

  /** A server with batch jobs on, keeping its data in {@code dataDir}. */
  public static TestServer withBatches(Path dir, Path dataDir, int maxInFlight) throws Exception {
    ServerConfig config =
        config(List.of(), 1 << 20).withBatch(BatchConfig.in(dataDir).withMaxInFlight(maxInFlight));
    return start(dir, config, SchedulerConfig.defaults(), MediaConfig.defaults());
  }

  public int port() {
    return server.port();
  }

  static TestServer start(
      Path dir, ServerConfig config, SchedulerConfig scheduler, MediaConfig media)
      throws Exception {
    Path ckpt = dir.resolve("tiny");
    if (!java.nio.file.Files.exists(ckpt.resolve("config.json"))) {
      TinyCheckpoint.write(ckpt, TinySpec.tiny());
    }
    LlavaModel model = LlavaModel.load(ckpt, ModelOptions.defaults().withKvCacheBytes(32L << 20));
    LlavaEngine engine = LlavaEngine.start(model, EngineConfig.defaults().withScheduler(scheduler));
    LlavaServer server = LlavaServer.start(config, new ServedModel(MODEL_ID, model, engine), media);
    return new TestServer(model, engine, server);
  }

  static TestServer start(Path dir) throws Exception {
    return start(dir, config(List.of(), 1 << 20), SchedulerConfig.defaults());
  }

  public String url(String path) {
    return "http://127.0.0.1:" + server.port() + path;
  }

  public HttpResponse<String> post(String path, String body, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url(path)))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (headers.length > 0) {
      b.headers(headers);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  public HttpResponse<String> get(String path, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(30)).GET();
    if (headers.length > 0) {
      b.headers(headers);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A small gradient PNG as a data URI. */
  public static String pngDataUri(int width, int height) throws IOException {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        img.setRGB(x, y, new Color((x * 7) % 256, (y * 11) % 256, 90).getRGB());
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return "data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
  }

  @Override
  public void close() {
    server.close();
    model.close();
  }
}
