package io.llavaserve.web.batchjobs;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.lifecycle.Generation;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * One active job while it runs: the lines still to submit, the requests running, the result lines
 * gathered since the last write, and its two result logs. Owned by the runner's thread.
 */
final class JobRun {

  private static final Logger LOG = Logger.getLogger(JobRun.class.getName());

  BatchJob job;
  final Deque<InputFile.Line> pending = new ArrayDeque<>();
  final Map<String, Generation> running = new HashMap<>(); // by custom_id
  final List<JsonObject> outputs = new ArrayList<>();
  final List<JsonObject> errors = new ArrayList<>();
  private final Map<String, Integer> engineLosses = new HashMap<>(); // by custom_id
  ResultLog output;
  ResultLog errorLog;
  boolean cancelling;

  JobRun(BatchJob job) {
    this.job = job;
  }

  boolean allDone() {
    return pending.isEmpty() && running.isEmpty() && outputs.isEmpty() && errors.isEmpty();
  }

  /** A line answered: its endpoint's whole answer, as the HTTP API would have sent it. */
  void answered(InputFile.Line line, String requestId, JsonObject body) {
    outputs.add(resultLine(line, requestId, 200, body));
  }

  /** A line refused or failed: its error body and status, in the error file. */
  void failed(InputFile.Line line, String requestId, ApiError e) {
    errors.add(resultLine(line, requestId, e.status(), e.toJson()));
  }

  /** A line's cluster engine left while running it; returns how many times that has happened. */
  int engineLost(InputFile.Line line) {
    return engineLosses.merge(line.customId(), 1, Integer::sum);
  }

  /** Cancels every running request (each aborts in the engine); returns how many there were. */
  int abortRunning() {
    int n = running.size();
    running.values().forEach(Generation::cancel);
    running.clear();
    return n;
  }

  /** Appends the gathered result lines to the logs (one fsync each); true when there were any. */
  boolean writeResults() throws IOException {
    if (outputs.isEmpty() && errors.isEmpty()) {
      return false;
    }
    output.append(outputs);
    errorLog.append(errors);
    outputs.clear();
    errors.clear();
    return true;
  }

  /** Closes the result logs (those opened); what they hold stays. */
  void closeLogs() {
    for (ResultLog log : new ResultLog[] {output, errorLog}) {
      if (log != null) {
        try {
          log.close();
        } catch (IOException e) {
          LOG.warning("closing " + log.path() + ": " + e);
        }
      }
    }
  }

  /**
   * OpenAI's batch output line: {@code {id, custom_id, response:{status_code, request_id, body}}}.
   */
  static JsonObject resultLine(InputFile.Line line, String requestId, int status, JsonObject body) {
    return new JsonObject()
        .put("id", FileStore.newId("batch_req_"))
        .put("custom_id", line.customId())
        .put(
            "response",
            new JsonObject()
                .put("status_code", status)
                .put("request_id", requestId)
                .put("body", body))
        .put("error", (Object) null);
  }
}
