package io.llavaserve.cli;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * The soak run's batch-job traffic: every so often a small JSONL file of chat requests (greedy
 * checks among sampled ones) goes through the Files and Batches API and is polled to its end; every
 * {@code custom_id} must come back exactly once, in the output or the error file, and each check
 * line must match its reference answer.
 */
final class SoakBatches implements Runnable {

  private static final List<String> ENDED = List.of("completed", "failed", "cancelled", "expired");

  private final SoakClient.Load load;
  private final BatchApiClient api;
  private final Path dir;
  private final int size;
  private final Duration every;
  private final BooleanSupplier stop;
  private final LongSupplier deadlineNanos; // Long.MAX_VALUE while the load runs
  private final PrintWriter out;
  private final SplittableRandom random;
  private final BenchPrompts prompts;
  private int jobs;

  /**
   * @param size requests per job
   * @param every time from one job's submission to the next one's
   * @param deadlineNanos when a job still running must have ended (the drain's end)
   */
  SoakBatches(
      SoakClient.Load load,
      Path dir,
      int size,
      Duration every,
      long seed,
      BooleanSupplier stop,
      LongSupplier deadlineNanos,
      PrintWriter out) {
    this.load = load;
    this.api = new BatchApiClient(load.base().toString(), load.apiKey());
    this.dir = dir;
    this.size = size;
    this.every = every;
    this.stop = stop;
    this.deadlineNanos = deadlineNanos;
    this.out = out;
    this.random = new SplittableRandom(seed ^ 0xba7cL);
    this.prompts = new BenchPrompts(seed ^ 0xba7cL, load.promptWords(), false);
  }

  @Override
  public void run() {
    while (!stop.getAsBoolean()) {
      long next = System.nanoTime() + every.toNanos();
      try {
        if (!job()) {
          return;
        }
      } catch (IOException e) {
        load.stats().record(SoakClient.failure(e), "batch: " + e.getMessage());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      while (!stop.getAsBoolean() && System.nanoTime() < next) {
        try {
          Thread.sleep(Math.min(200, Math.max(1, (next - System.nanoTime()) / 1_000_000)));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** One job, submitted, polled to its end and checked; false when the server has no batch API. */
  private boolean job() throws IOException, InterruptedException {
    String tag = "job" + jobs++;
    Map<String, Integer> checkOf = new HashMap<>(); // custom_id -> check prompt
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < size; i++) {
      String id = tag + "-" + i;
      JsonObject body;
      if (random.nextDouble() < load.checkShare() || i == 0) {
        int c = random.nextInt(load.checks().prompts().size());
        checkOf.put(id, c);
        body = BenchPrompts.chatBody(load.checks().prompts().get(c), load.maxTokens());
        body.put("logprobs", true);
      } else {
        body =
            BenchPrompts.chatBody(
                prompts.next(tag, 1).get(0), 1 + random.nextInt(load.maxTokens()));
        body.put("temperature", 0.8).put("top_p", 0.95);
      }
      body.remove("stream");
      body.remove("stream_options");
      lines
          .append(
              new JsonObject()
                  .put("custom_id", id)
                  .put("method", "POST")
                  .put("url", "/v1/chat/completions")
                  .put("body", body)
                  .encode())
          .append('\n');
    }
    Path input = dir.resolve(tag + ".jsonl");
    Files.writeString(input, lines, StandardCharsets.UTF_8);
    String fileId;
    try {
      fileId = api.upload(input).getString("id");
    } catch (IOException e) {
      if (e.getMessage() != null && e.getMessage().matches("POST /v1/files answered 40[45].*")) {
        out.println("batch jobs: not available on this server; none sent");
        out.flush();
        return false;
      }
      throw e;
    } finally {
      Files.deleteIfExists(input);
    }
    JsonObject batch = api.create(fileId, "/v1/chat/completions");
    String id = batch.getString("id");
    while (!ENDED.contains(batch.getString("status"))) {
      if (System.nanoTime() > deadlineNanos.getAsLong()) {
        api.cancel(id);
        load.stats()
            .record(
                SoakStats.Outcome.failed(SoakStats.ErrorKind.TIMEOUT, "batch job not ended", 0),
                "batch " + id + " still " + batch.getString("status") + " when the drain ended");
        return true;
      }
      Thread.sleep(250);
      batch = api.batch(id);
    }
    load.stats().batchJob();
    if (!batch.getString("status").equals("completed")) {
      load.stats()
          .record(
              SoakStats.Outcome.failed(
                  SoakStats.ErrorKind.STREAM, "batch job " + batch.getString("status"), 0),
              "batch " + id + ": " + batch.encode());
      return true;
    }
    Map<String, Integer> seen = new HashMap<>();
    for (String file : List.of("output_file_id", "error_file_id")) {
      String fid = batch.getString(file);
      if (fid == null) {
        continue;
      }
      for (String line : api.content(fid).split("\n")) {
        if (!line.isBlank()) {
          outputLine(new JsonObject(line), checkOf, seen);
        }
      }
    }
    for (int i = 0; i < size; i++) {
      String cid = tag + "-" + i;
      int n = seen.getOrDefault(cid, 0);
      if (n != 1) {
        load.stats()
            .record(
                SoakStats.Outcome.failed(
                    SoakStats.ErrorKind.MISMATCH,
                    n == 0 ? "batch custom_id missing" : "batch custom_id repeated",
                    0),
                "batch " + id + ": " + cid + " came back " + n + " times");
      }
    }
    return true;
  }

  private void outputLine(
      JsonObject line, Map<String, Integer> checkOf, Map<String, Integer> seen) {
    String cid = line.getString("custom_id", "");
    seen.merge(cid, 1, Integer::sum);
    JsonObject response = line.getJsonObject("response");
    int status = response == null ? 0 : response.getInteger("status_code", 0);
    if (status != 200) {
      load.stats()
          .record(
              SoakStats.Outcome.failed(SoakStats.ErrorKind.HTTP, "batch line HTTP " + status, 0),
              "batch line " + line.encode());
      return;
    }
    BenchStats.Trace t =
        JsonBenchClient.answer(response.getJsonObject("body"), new BenchStats.Recorder());
    Integer check = checkOf.get(cid);
    if (check != null) {
      load.stats().checked();
      String defect = SoakChecks.compare(load.checks().reference(SoakClient.Wire.JSON, check), t);
      if (defect != null) {
        load.stats()
            .record(
                SoakStats.Outcome.failed(SoakStats.ErrorKind.MISMATCH, defect, t.outputTokens()),
                "batch " + cid + ": " + SoakChecks.quote(t.text()));
        return;
      }
    }
    load.stats().record(SoakStats.Outcome.completed(t.outputTokens(), Double.NaN, new double[0]));
  }
}
