package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.web.TestServer;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data directory full or read-only mid-job: the job fails naming the cause, every result line
 * written before stays (whole, and counted), plain requests and the server go on, no KV block stays
 * held, uploads and new batches get a 507 naming the cause and leave nothing behind, and once the
 * disk has room again a new job runs.
 */
class BatchStorageFaultTest {

  @TempDir Path dir;

  @Test
  void aDiskThatFillsMidJobFailsTheJobKeepingEveryLineItWrote() throws Exception {
    FaultyDisk disk = new FaultyDisk();
    Path data = dir.resolve("data");
    try (TestServer s = TestServer.on(dir).batches(data, 8, disk).start()) {
      BatchApiClient c = new BatchApiClient(s.url(""), null);
      String input = c.upload(Jobs.input(dir, "in.jsonl", 200, 6, 25)).getString("id");
      String id = c.create(input, Jobs.CHAT).getString("id");
      int before = Jobs.done(Jobs.waitFor(c, id, b -> Jobs.done(b) >= 20, 60));
      disk.fill(100); // less than one result line: the next group is written in part, then ENOSPC

      assertEquals(200, s.post(Jobs.CHAT, chat()).statusCode(), "plain requests go on");
      JsonObject b = Jobs.waitDone(c, id, 60);
      assertStorageFailure(b, FaultyDisk.NO_SPACE);
      assertTrue(Jobs.done(b) >= before, "kept the lines done before the disk filled");
      assertResultsWhole(data, b);
      s.awaitIdle(); // the job's running requests were aborted: no KV block is held

      // Still full: an upload and a new batch are refused, naming the cause, and leave nothing.
      List<String> stored = names(data.resolve("files"));
      assertRefused(() -> c.upload(Jobs.input(dir, "more.jsonl", 5, 2, 0)), FaultyDisk.NO_SPACE);
      assertEquals(stored, names(data.resolve("files")));
      awaitEmpty(data.resolve("uploads"));
      assertRefused(() -> c.create(input, Jobs.CHAT), FaultyDisk.NO_SPACE);
      assertEquals(1, new JsonObject(s.get("/v1/batches").body()).getJsonArray("data").size());
      assertEquals("in_progress", state(data, id), "the failure is shown before it is written");

      disk.free();
      String small = c.upload(Jobs.input(dir, "small.jsonl", 10, 2, 0)).getString("id");
      JsonObject next = Jobs.waitDone(c, c.create(small, Jobs.CHAT).getString("id"), 60);
      assertEquals("completed", next.getString("status"), next.encode());
      Jobs.assertExactlyOnce(c, next, 10);
      assertEquals("failed", state(data, id), "written at the first save the disk took");
      assertEquals("failed", c.batch(id).getString("status"));

      // An upload whose body cannot be written at all (the uploads folder is a file): a 507 too.
      Files.deleteIfExists(data.resolve("uploads"));
      Files.writeString(data.resolve("uploads"), "not a folder");
      assertRefused(() -> c.upload(Jobs.input(dir, "lost.jsonl", 5, 2, 0)), "uploads");
      assertEquals(200, s.post(Jobs.CHAT, chat()).statusCode());
      assertEquals(200, s.get("/health").statusCode());
    }
  }

  @Test
  void aDataDirectoryTurnedReadOnlyMidJobFailsItAndTheNextServerResumesIt() throws Exception {
    FaultyDisk disk = new FaultyDisk();
    Path data = dir.resolve("data");
    int n = 120;
    String id;
    try (TestServer s = TestServer.on(dir).batches(data, 8, disk).start()) {
      BatchApiClient c = new BatchApiClient(s.url(""), null);
      String input = c.upload(Jobs.input(dir, "in.jsonl", n, 6, 30)).getString("id");
      id = c.create(input, Jobs.CHAT).getString("id");
      Jobs.waitFor(c, id, b -> Jobs.done(b) >= 20, 60);
      disk.turnReadOnly();

      JsonObject b = Jobs.waitDone(c, id, 60);
      assertStorageFailure(b, FaultyDisk.READ_ONLY);
      assertResultsWhole(data, b);
      s.awaitIdle();
      assertRefused(() -> c.upload(Jobs.input(dir, "more.jsonl", 5, 2, 0)), FaultyDisk.READ_ONLY);
      awaitEmpty(data.resolve("uploads"));
      assertEquals(200, s.post(Jobs.CHAT, chat()).statusCode());
      assertEquals("in_progress", state(data, id));
    }
    // Its failure never reached the disk: the next server finds the job in progress and finishes
    // it from the lines already written, none lost or repeated.
    try (TestServer s = TestServer.on(dir).batches(data, 8).start()) {
      BatchApiClient c = new BatchApiClient(s.url(""), null);
      JsonObject b = Jobs.waitDone(c, id, 120);
      assertEquals("completed", b.getString("status"), b.encode());
      Jobs.assertExactlyOnce(c, b, n);
    }
  }

  private static String chat() {
    return Jobs.line(1, 2, 0).getJsonObject("body").encode();
  }

  private static void assertStorageFailure(JsonObject batch, String cause) {
    assertEquals("failed", batch.getString("status"), batch.encode());
    assertTrue(batch.getLong("failed_at") != null);
    JsonObject error = batch.getJsonObject("errors").getJsonArray("data").getJsonObject(0);
    assertEquals("storage_error", error.getString("code"));
    assertTrue(error.getString("message").contains("batch.data-dir"), error.encode());
    assertTrue(error.getString("message").contains(cause), error.encode());
  }

  /** The job's logs hold whole lines only, each of them counted in the job. */
  private static void assertResultsWhole(Path data, JsonObject batch) throws IOException {
    Path folder = data.resolve("batches").resolve(batch.getString("id"));
    String out = Files.readString(folder.resolve("output.jsonl"));
    String err = Files.readString(folder.resolve("errors.jsonl"));
    for (String log : List.of(out, err)) {
      assertTrue(log.isEmpty() || log.endsWith("\n"), "a torn line is left: " + log);
    }
    JsonObject counts = batch.getJsonObject("request_counts");
    assertEquals(counts.getInteger("completed"), Jobs.byCustomId(out).size());
    assertEquals(counts.getInteger("failed"), Jobs.byCustomId(err).size());
  }

  private interface Call {
    void run() throws Exception;
  }

  private static void assertRefused(Call call, String cause) {
    String message = assertThrows(IOException.class, call::run).getMessage();
    assertTrue(message.contains("answered 507"), message);
    assertTrue(message.contains("storage_error") && message.contains(cause), message);
  }

  private static String state(Path data, String id) throws IOException {
    return new JsonObject(Files.readString(data.resolve("batches").resolve(id + ".json")))
        .getString("status");
  }

  private static List<String> names(Path folder) throws IOException {
    try (Stream<Path> s = Files.list(folder)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  /** The body handler deletes a refused upload when the request ends, just after the answer. */
  private static void awaitEmpty(Path folder) throws Exception {
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (!names(folder).isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertEquals(List.of(), names(folder), "upload files left in " + folder);
  }
}
