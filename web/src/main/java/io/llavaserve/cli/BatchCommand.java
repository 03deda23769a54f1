package io.llavaserve.cli;

import io.vertx.core.json.JsonObject;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Submits a JSONL file as a batch job to a running server, shows its progress in place until it
 * ends, then downloads the output and error files.
 */
@Command(
    name = "batch",
    description = "Run a JSONL file as a batch job on a server and fetch the results.")
final class BatchCommand implements Callable<Integer> {

  private static final Set<String> ENDED = Set.of("completed", "failed", "cancelled", "expired");

  @Option(
      names = "--url",
      required = true,
      paramLabel = "URL",
      description = "The server, e.g. http://localhost:8000.")
  String url;

  @Option(
      names = "--api-key",
      paramLabel = "KEY",
      description = "Bearer key, when the server requires one.")
  String apiKey;

  @Option(names = "--input", required = true, paramLabel = "FILE", description = "JSONL requests.")
  Path input;

  @Option(
      names = "--endpoint",
      defaultValue = "/v1/chat/completions",
      description = "Endpoint of every line (default: ${DEFAULT-VALUE}).")
  String endpoint;

  @Option(
      names = "--output",
      required = true,
      paramLabel = "DIR",
      description = "Where the output and error files go.")
  Path output;

  @Option(names = "--poll-ms", defaultValue = "500", hidden = true)
  long pollMs;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    BatchApiClient client = new BatchApiClient(url, apiKey);
    Files.createDirectories(output);
    String fileId = client.upload(input).getString("id");
    JsonObject batch = client.create(fileId, endpoint);
    String id = batch.getString("id");
    out.println("batch " + id + " (input " + fileId + ")");
    long start = System.nanoTime();
    while (!ENDED.contains(batch.getString("status"))) {
      Thread.sleep(pollMs);
      batch = client.batch(id);
      out.print("\r" + progress(batch, (System.nanoTime() - start) / 1e9));
      out.flush();
    }
    out.println();
    out.println("status " + batch.getString("status"));
    if (batch.getJsonObject("errors") != null) {
      batch
          .getJsonObject("errors")
          .getJsonArray("data")
          .forEach(
              e -> {
                JsonObject o = (JsonObject) e;
                out.println("  line " + o.getValue("line") + ": " + o.getString("message"));
              });
    }
    download(client, batch.getString("output_file_id"), output.resolve(id + "_output.jsonl"), out);
    download(client, batch.getString("error_file_id"), output.resolve(id + "_error.jsonl"), out);
    return batch.getString("status").equals("completed") ? 0 : 1;
  }

  /** {@code [#####.....] 120 done / 3 failed / 400 total 35.2 req/s ETA 8 s in_progress}. */
  static String progress(JsonObject batch, double seconds) {
    JsonObject c = batch.getJsonObject("request_counts");
    int total = c.getInteger("total");
    int done = c.getInteger("completed");
    int failed = c.getInteger("failed");
    int finished = done + failed;
    int width = 30;
    int filled = total == 0 ? 0 : (int) ((long) width * finished / total);
    double rate = seconds > 0 ? finished / seconds : 0;
    String eta = rate > 0 && total > 0 ? String.format("%.0f s", (total - finished) / rate) : "-";
    return String.format(
        "[%s%s] %d done / %d failed / %d total  %.1f req/s  ETA %s  %s   ",
        "#".repeat(filled),
        ".".repeat(width - filled),
        done,
        failed,
        total,
        rate,
        eta,
        batch.getString("status"));
  }

  private static void download(BatchApiClient client, String fileId, Path target, PrintWriter out)
      throws Exception {
    if (fileId != null) {
      client.download(fileId, target);
      out.println("wrote " + target);
    }
  }
}
