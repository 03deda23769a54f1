package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.web.TestServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Batch jobs end to end on a real server over the tiny model. */
class BatchJobsTest {

  @TempDir static Path dir;
  static TestServer s;
  static BatchApiClient client;

  @BeforeAll
  static void start() throws Exception {
    s = TestServer.on(dir).batches(dir.resolve("data"), 48).start();
    client = new BatchApiClient(s.url(""), null);
  }

  @AfterAll
  static void stop() {
    s.close();
  }

  static String run(Path input) throws Exception {
    String fileId = client.upload(input).getString("id");
    return client.create(fileId, Jobs.CHAT).getString("id");
  }

  @Test
  void jobWithMalformedLinesCompletesEveryLineOnce() throws Exception {
    int n = 300;
    String id = run(Jobs.input(dir, "big.jsonl", n, 2, 25));
    JsonObject b = Jobs.waitDone(client, id, 120);
    assertEquals("completed", b.getString("status"), b.encode());
    assertEquals(
        new JsonObject().put("total", n).put("completed", n - 12).put("failed", 12),
        b.getJsonObject("request_counts"));
    assertTrue(b.getLong("completed_at") >= b.getLong("in_progress_at"));
    Jobs.assertExactlyOnce(client, b, n);

    Map<String, JsonObject> errors = Jobs.byCustomId(client.content(b.getString("error_file_id")));
    JsonObject temp = errors.get("req-50").getJsonObject("response");
    assertEquals(400, temp.getInteger("status_code"));
    assertTrue(
        temp.getJsonObject("body")
            .getJsonObject("error")
            .getString("message")
            .contains("temperature"),
        temp.encode());
    assertEquals(400, errors.get("req-25").getJsonObject("response").getInteger("status_code"));
    assertNull(errors.get("req-25").getValue("error"));

    // An output body has exactly the fields the online endpoint answers with.
    Map<String, JsonObject> out = Jobs.byCustomId(client.content(b.getString("output_file_id")));
    JsonObject line = out.get("req-7");
    assertTrue(line.getString("id").startsWith("batch_req_"));
    assertEquals(200, line.getJsonObject("response").getInteger("status_code"));
    JsonObject body = line.getJsonObject("response").getJsonObject("body");
    JsonObject online =
        new JsonObject(s.post(Jobs.CHAT, Jobs.line(7, 2, 0).getJsonObject("body").encode()).body());
    assertEquals(online.fieldNames(), body.fieldNames());
    assertEquals("chat.completion", body.getString("object"));
    assertEquals(
        online.getJsonArray("choices").getJsonObject(0).getJsonObject("message"),
        body.getJsonArray("choices").getJsonObject(0).getJsonObject("message"));
    assertEquals(online.getJsonObject("usage"), body.getJsonObject("usage"));

    JsonObject files = new JsonObject(s.get("/v1/files").body());
    assertTrue(
        files.getJsonArray("data").stream()
            .anyMatch(f -> ((JsonObject) f).getString("id").equals(b.getString("output_file_id"))));
  }

  @Test
  void wholeFileValidationFailsTheJobNamingTheLines() throws Exception {
    JsonObject ok = Jobs.line(1, 2, 0);
    JsonObject wrongUrl = Jobs.line(2, 2, 0).put("url", "/v1/completions");
    String file =
        String.join(
            "\n",
            ok.encode(),
            wrongUrl.encode(),
            "{not json",
            Jobs.line(1, 2, 0).encode(),
            Jobs.line(5, 2, 0).put("method", "GET").encode());
    String id = run(Jobs.write(dir, "invalid.jsonl", List.of(file)));
    JsonObject b = Jobs.waitDone(client, id, 30);
    assertEquals("failed", b.getString("status"));
    assertTrue(b.getLong("failed_at") != null);
    JsonArray errors = b.getJsonObject("errors").getJsonArray("data");
    assertEquals(4, errors.size(), errors.encode());
    assertEquals(2, errors.getJsonObject(0).getInteger("line"));
    assertTrue(errors.getJsonObject(0).getString("message").contains("url"));
    assertEquals(3, errors.getJsonObject(1).getInteger("line"));
    assertEquals("duplicate_custom_id", errors.getJsonObject(2).getString("code"));
    assertEquals(4, errors.getJsonObject(2).getInteger("line"));
    assertTrue(errors.getJsonObject(2).getString("message").contains("line 1"));
    assertEquals(5, errors.getJsonObject(3).getInteger("line"));
    assertNull(b.getString("output_file_id"));
  }

  @Test
  void cancelStopsARunningJob() throws Exception {
    int n = 400;
    String id = run(Jobs.input(dir, "cancel.jsonl", n, 24, 0));
    Jobs.waitFor(client, id, b -> Jobs.done(b) >= 10, 60);
    JsonObject c = client.cancel(id);
    assertTrue(List.of("cancelling", "cancelled").contains(c.getString("status")), c.encode());
    JsonObject b = Jobs.waitDone(client, id, 30);
    assertEquals("cancelled", b.getString("status"));
    assertTrue(b.getLong("cancelling_at") != null && b.getLong("cancelled_at") != null);
    int done = Jobs.done(b);
    assertTrue(done >= 10 && done < n, "done " + done);
    String content = client.content(b.getString("output_file_id"));
    assertEquals(
        b.getJsonObject("request_counts").getInteger("completed"), Jobs.byCustomId(content).size());
    s.awaitIdle(); // every aborted request has ended and been handled: none can still write
    assertEquals(
        content, client.content(b.getString("output_file_id")), "nothing written after cancel");
    assertEquals(
        b.getJsonObject("request_counts"), client.batch(id).getJsonObject("request_counts"));
    assertEquals(409, s.post("/v1/batches/" + id + "/cancel", "").statusCode());
  }

  @Test
  void listsArePaginatedAndMissingIdsAre404() throws Exception {
    for (int i = 0; i < 3; i++) {
      run(Jobs.input(dir, "small" + i + ".jsonl", 2, 2, 0));
    }
    JsonObject page = new JsonObject(s.get("/v1/batches?limit=2").body());
    assertEquals("list", page.getString("object"));
    assertEquals(2, page.getJsonArray("data").size());
    assertTrue(page.getBoolean("has_more"));
    JsonObject next =
        new JsonObject(s.get("/v1/batches?limit=2&after=" + page.getString("last_id")).body());
    assertTrue(next.getJsonArray("data").size() >= 1);
    assertTrue(
        next.getJsonArray("data").stream().noneMatch(o -> page.getJsonArray("data").contains(o)));
    assertEquals(404, s.get("/v1/batches/batch_nope").statusCode());
    assertEquals(404, s.get("/v1/files/file-nope/content").statusCode());
    JsonObject missing =
        new JsonObject()
            .put("input_file_id", "file-x")
            .put("endpoint", Jobs.CHAT)
            .put("completion_window", "24h");
    assertEquals(404, s.post("/v1/batches", missing.encode()).statusCode());
    String fileId = client.upload(Jobs.input(dir, "del.jsonl", 1, 2, 0)).getString("id");
    assertEquals(
        200,
        s.http
            .send(
                java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create(s.url("/v1/files/" + fileId)))
                    .DELETE()
                    .build(),
                java.net.http.HttpResponse.BodyHandlers.ofString())
            .statusCode());
    assertEquals(404, s.get("/v1/files/" + fileId).statusCode());
  }
}
