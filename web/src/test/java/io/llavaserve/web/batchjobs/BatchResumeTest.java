package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.cli.BatchApiClient;
import io.llavaserve.web.TestServer;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A job interrupted by stopping its server resumes on the next server over the same data. */
class BatchResumeTest {

  @TempDir Path dir;

  @Test
  void stoppedMidJobResumesWithEveryLineOnce() throws Exception {
    int n = 240;
    Path data = dir.resolve("data");
    String id;
    int before;
    try (TestServer first = TestServer.on(dir).batches(data, 32).start()) {
      BatchApiClient c = new BatchApiClient(first.url(""), null);
      String file = c.upload(Jobs.input(dir, "in.jsonl", n, 6, 30)).getString("id");
      id = c.create(file, Jobs.CHAT).getString("id");
      before = Jobs.done(Jobs.waitFor(c, id, b -> Jobs.done(b) >= 40, 60));
    }
    try (TestServer second = TestServer.on(dir).batches(data, 32).start()) {
      BatchApiClient c = new BatchApiClient(second.url(""), null);
      JsonObject resumed = c.batch(id);
      assertTrue(
          List.of("in_progress", "finalizing", "completed").contains(resumed.getString("status")),
          resumed.encode());
      assertTrue(Jobs.done(resumed) >= before, "kept the lines done before the stop");
      JsonObject b = Jobs.waitDone(c, id, 120);
      assertEquals("completed", b.getString("status"));
      assertEquals(n, Jobs.done(b));
      Jobs.assertExactlyOnce(c, b, n);
      System.out.printf("resume: %d of %d lines were done when the server stopped%n", before, n);
    }
  }
}
