package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.web.TestServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BatchCommandTest {

  @TempDir Path dir;

  @Test
  void submitsShowsProgressAndDownloads() throws Exception {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      JsonObject body =
          new JsonObject()
              .put(
                  "messages",
                  new JsonArray()
                      .add(new JsonObject().put("role", "user").put("content", "hi " + i)))
              .put("max_tokens", i == 3 ? -1 : 2);
      lines.add(
          new JsonObject()
              .put("custom_id", "c" + i)
              .put("method", "POST")
              .put("url", "/v1/chat/completions")
              .put("body", body)
              .encode());
    }
    Path input = dir.resolve("in.jsonl");
    Files.write(input, lines);
    try (TestServer s = TestServer.on(dir).batches(dir.resolve("data"), 16).start()) {
      CommandLine cli = Main.commandLine();
      StringWriter out = new StringWriter();
      cli.setOut(new PrintWriter(out, true));
      int code =
          cli.execute(
              "batch",
              "--url",
              s.url(""),
              "--input",
              input.toString(),
              "--output",
              dir.resolve("out").toString(),
              "--poll-ms",
              "50");
      assertEquals(0, code, out.toString());
      assertTrue(out.toString().contains("29 done / 1 failed / 30 total"), out.toString());
      assertTrue(out.toString().contains("\r["), "progress refreshed in place");
      try (var files = Files.list(dir.resolve("out"))) {
        List<Path> got = files.sorted().toList();
        assertEquals(2, got.size());
        assertEquals(1, Files.readAllLines(got.get(0)).size()); // _error.jsonl sorts first
        assertEquals(29, Files.readAllLines(got.get(1)).size());
      }
    }
  }
}
