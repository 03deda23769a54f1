package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.web.FreePorts;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server process killed (-9) mid-job: the next one resumes with every line exactly once. */
class BatchCrashTest {

  @TempDir Path dir;

  @Test
  void killedMidJobResumesWithEveryLineOnce() throws Exception {
    Path model = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny());
    Path data = dir.resolve("data");
    int n = 240;
    int port = FreePorts.next();
    String base = "http://127.0.0.1:" + port;
    BatchApiClient c = new BatchApiClient(base, null);
    Process server = serve(model, data, port);
    String id;
    int before;
    try {
      awaitReady(base, server);
      String file = c.upload(Jobs.input(dir, "in.jsonl", n, 6, 40)).getString("id");
      id = c.create(file, Jobs.CHAT).getString("id");
      before = Jobs.done(Jobs.waitFor(c, id, b -> Jobs.done(b) >= 40, 90));
    } finally {
      server.destroyForcibly().waitFor();
    }
    server = serve(model, data, port);
    try {
      awaitReady(base, server);
      JsonObject b = Jobs.waitDone(c, id, 120);
      assertEquals("completed", b.getString("status"), b.encode());
      assertTrue(Jobs.done(b) >= before);
      Jobs.assertExactlyOnce(c, b, n);
      System.out.printf("crash: %d of %d lines were done at kill -9%n", before, n);
    } finally {
      server.destroyForcibly().waitFor();
    }
  }

  private Process serve(Path model, Path data, int port) throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    ProcessBuilder pb =
        new ProcessBuilder(
            java,
            "-cp",
            System.getProperty("java.class.path"),
            "io.llavaserve.cli.Main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            Integer.toString(port),
            "--model",
            model.toString(),
            "--kv-cache-mb",
            "32");
    pb.environment().put("LLAVA_SERVE_BATCH_DATA_DIR", data.toString());
    pb.environment().put("LLAVA_SERVE_BATCH_MAX_IN_FLIGHT", "32");
    pb.redirectErrorStream(true)
        .redirectOutput(dir.resolve("server-" + System.nanoTime() + ".log").toFile());
    return pb.start();
  }

  private static void awaitReady(String base, Process p) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        throw new AssertionError("the server exited with " + p.exitValue());
      }
      try {
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(URI.create(base + "/ready")).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return;
        }
      } catch (java.io.IOException e) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the server was not ready in 60 s");
  }
}
