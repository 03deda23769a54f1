package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.llavaserve.cli.BatchApiClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/** Input files and checks shared by the batch-job tests. */
public final class Jobs {

  public static final String CHAT = "/v1/chat/completions";

  private Jobs() {}

  /** A chat line; every {@code badEvery}-th (when > 0) has a body the endpoint refuses. */
  public static JsonObject line(int i, int maxTokens, int badEvery) {
    JsonObject body =
        new JsonObject()
            .put(
                "messages",
                new JsonArray()
                    .add(new JsonObject().put("role", "user").put("content", "question " + i)))
            .put("max_tokens", maxTokens)
            .put("temperature", 0);
    if (badEvery > 0 && i % badEvery == 0) {
      if ((i / badEvery) % 2 == 0) {
        body.put("temperature", 9);
      } else {
        body.put(
            "messages",
            new JsonArray()
                .add(
                    new JsonObject()
                        .put("role", "user")
                        .put(
                            "content",
                            new JsonArray()
                                .add(
                                    new JsonObject()
                                        .put("type", "text")
                                        .put("text", "what is this?"))
                                .add(
                                    new JsonObject()
                                        .put("type", "image_url")
                                        .put(
                                            "image_url",
                                            new JsonObject()
                                                .put("url", "data:image/png;base64,AAAA"))))));
      }
    }
    return new JsonObject()
        .put("custom_id", "req-" + i)
        .put("method", "POST")
        .put("url", CHAT)
        .put("body", body);
  }

  public static int bad(int n, int badEvery) {
    return badEvery > 0 ? n / badEvery : 0;
  }

  public static Path write(Path dir, String name, List<String> lines) throws Exception {
    Path p = dir.resolve(name);
    Files.write(p, lines);
    return p;
  }

  public static Path input(Path dir, String name, int n, int maxTokens, int badEvery)
      throws Exception {
    List<String> lines = new ArrayList<>();
    for (int i = 1; i <= n; i++) {
      lines.add(line(i, maxTokens, badEvery).encode());
    }
    return write(dir, name, lines);
  }

  public static JsonObject waitFor(
      BatchApiClient client, String id, Predicate<JsonObject> until, long seconds)
      throws Exception {
    long deadline = System.nanoTime() + seconds * 1_000_000_000L;
    JsonObject b = client.batch(id);
    while (!until.test(b)) {
      if (System.nanoTime() > deadline) {
        fail("batch " + id + " did not get there in " + seconds + " s: " + b.encode());
      }
      Thread.sleep(50);
      b = client.batch(id);
    }
    return b;
  }

  public static JsonObject waitDone(BatchApiClient client, String id, long seconds)
      throws Exception {
    return waitFor(
        client,
        id,
        b ->
            !List.of("validating", "in_progress", "finalizing", "cancelling")
                .contains(b.getString("status")),
        seconds);
  }

  public static int done(JsonObject batch) {
    JsonObject c = batch.getJsonObject("request_counts");
    return c.getInteger("completed") + c.getInteger("failed");
  }

  /** The lines of a result file by custom_id; fails on a duplicate. */
  public static Map<String, JsonObject> byCustomId(String content) {
    Map<String, JsonObject> m = new HashMap<>();
    for (String l : content.split("\n")) {
      if (l.isEmpty()) {
        continue;
      }
      JsonObject o = new JsonObject(l);
      if (m.put(o.getString("custom_id"), o) != null) {
        fail("custom_id " + o.getString("custom_id") + " appears twice");
      }
    }
    return m;
  }

  /** Every custom_id req-1..req-n exactly once across the output and error files. */
  public static void assertExactlyOnce(BatchApiClient client, JsonObject batch, int n)
      throws Exception {
    Map<String, JsonObject> out =
        batch.getString("output_file_id") == null
            ? Map.of()
            : byCustomId(client.content(batch.getString("output_file_id")));
    Map<String, JsonObject> err =
        batch.getString("error_file_id") == null
            ? Map.of()
            : byCustomId(client.content(batch.getString("error_file_id")));
    for (String id : out.keySet()) {
      if (err.containsKey(id)) {
        fail(id + " is in both the output and the error file");
      }
    }
    assertEquals(n, out.size() + err.size(), "lines across output and error files");
    for (int i = 1; i <= n; i++) {
      if (!out.containsKey("req-" + i) && !err.containsKey("req-" + i)) {
        fail("req-" + i + " is missing");
      }
    }
  }
}
