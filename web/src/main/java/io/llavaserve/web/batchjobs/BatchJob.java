package io.llavaserve.web.batchjobs;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A batch job's state, as OpenAI's {@code batch} object describes it. Timestamps are Unix seconds,
 * null until reached.
 */
public record BatchJob(
    String id,
    String endpoint,
    String inputFileId,
    String completionWindow,
    Status status,
    List<LineError> errors,
    String outputFileId,
    String errorFileId,
    long createdAt,
    Long inProgressAt,
    Long finalizingAt,
    Long completedAt,
    Long failedAt,
    Long cancellingAt,
    Long cancelledAt,
    Counts counts,
    Map<String, String> metadata) {

  /** A job's life; the names on the wire are the lower-case ones. */
  public enum Status {
    VALIDATING,
    IN_PROGRESS,
    FINALIZING,
    COMPLETED,
    FAILED,
    CANCELLING,
    CANCELLED;

    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** Whether a job in this state still has work to do (or to finish cancelling). */
    public boolean active() {
      return this == VALIDATING || this == IN_PROGRESS || this == FINALIZING || this == CANCELLING;
    }

    static Status of(String wire) {
      return valueOf(wire.toUpperCase(Locale.ROOT));
    }
  }

  /** One reason the input file was refused: {@code line} is 1-based, or null for the file. */
  public record LineError(String code, String message, Integer line) {
    JsonObject toJson() {
      return new JsonObject()
          .put("object", "error")
          .put("code", code)
          .put("message", message)
          .put("param", (String) null)
          .put("line", line);
    }
  }

  /** {@code request_counts}. */
  public record Counts(int total, int completed, int failed) {
    JsonObject toJson() {
      return new JsonObject().put("total", total).put("completed", completed).put("failed", failed);
    }
  }

  public BatchJob {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(status, "status");
    errors = List.copyOf(errors);
    metadata = Map.copyOf(metadata);
  }

  /** A new job, validating. */
  static BatchJob create(
      String endpoint, String inputFileId, String window, Map<String, String> metadata) {
    return new BatchJob(
        FileStore.newId("batch_"),
        endpoint,
        inputFileId,
        window,
        Status.VALIDATING,
        List.of(),
        null,
        null,
        now(),
        null,
        null,
        null,
        null,
        null,
        null,
        new Counts(0, 0, 0),
        metadata);
  }

  static long now() {
    return System.currentTimeMillis() / 1000;
  }

  /** Moves to {@code next}, stamping its timestamp. */
  BatchJob to(Status next) {
    Long t = now();
    return new BatchJob(
        id,
        endpoint,
        inputFileId,
        completionWindow,
        next,
        errors,
        outputFileId,
        errorFileId,
        createdAt,
        next == Status.IN_PROGRESS ? t : inProgressAt,
        next == Status.FINALIZING ? t : finalizingAt,
        next == Status.COMPLETED ? t : completedAt,
        next == Status.FAILED ? t : failedAt,
        next == Status.CANCELLING ? t : cancellingAt,
        next == Status.CANCELLED ? t : cancelledAt,
        counts,
        metadata);
  }

  BatchJob withCounts(Counts c) {
    return new BatchJob(
        id,
        endpoint,
        inputFileId,
        completionWindow,
        status,
        errors,
        outputFileId,
        errorFileId,
        createdAt,
        inProgressAt,
        finalizingAt,
        completedAt,
        failedAt,
        cancellingAt,
        cancelledAt,
        c,
        metadata);
  }

  BatchJob withErrors(List<LineError> e) {
    return new BatchJob(
        id,
        endpoint,
        inputFileId,
        completionWindow,
        status,
        e,
        outputFileId,
        errorFileId,
        createdAt,
        inProgressAt,
        finalizingAt,
        completedAt,
        failedAt,
        cancellingAt,
        cancelledAt,
        counts,
        metadata);
  }

  BatchJob withFiles(String output, String error) {
    return new BatchJob(
        id,
        endpoint,
        inputFileId,
        completionWindow,
        status,
        errors,
        output,
        error,
        createdAt,
        inProgressAt,
        finalizingAt,
        completedAt,
        failedAt,
        cancellingAt,
        cancelledAt,
        counts,
        metadata);
  }

  public JsonObject toJson() {
    JsonObject meta = new JsonObject();
    metadata.forEach(meta::put);
    JsonArray data = new JsonArray();
    errors.forEach(e -> data.add(e.toJson()));
    return new JsonObject()
        .put("id", id)
        .put("object", "batch")
        .put("endpoint", endpoint)
        .put(
            "errors",
            errors.isEmpty() ? null : new JsonObject().put("object", "list").put("data", data))
        .put("input_file_id", inputFileId)
        .put("completion_window", completionWindow)
        .put("status", status.wireName())
        .put("output_file_id", outputFileId)
        .put("error_file_id", errorFileId)
        .put("created_at", createdAt)
        .put("in_progress_at", inProgressAt)
        .put("expires_at", createdAt + 24 * 3600)
        .put("finalizing_at", finalizingAt)
        .put("completed_at", completedAt)
        .put("failed_at", failedAt)
        .put("expired_at", (Long) null)
        .put("cancelling_at", cancellingAt)
        .put("cancelled_at", cancelledAt)
        .put("request_counts", counts.toJson())
        .put("metadata", meta);
  }

  static BatchJob fromJson(JsonObject o) {
    JsonObject errs = o.getJsonObject("errors");
    List<LineError> errors =
        errs == null
            ? List.of()
            : errs.getJsonArray("data").stream()
                .map(JsonObject.class::cast)
                .map(
                    e ->
                        new LineError(
                            e.getString("code"), e.getString("message"), e.getInteger("line")))
                .toList();
    JsonObject c = o.getJsonObject("request_counts");
    Map<String, String> meta =
        o.getJsonObject("metadata", new JsonObject()).getMap().entrySet().stream()
            .collect(
                java.util.stream.Collectors.toMap(
                    Map.Entry::getKey, e -> String.valueOf(e.getValue())));
    return new BatchJob(
        o.getString("id"),
        o.getString("endpoint"),
        o.getString("input_file_id"),
        o.getString("completion_window"),
        Status.of(o.getString("status")),
        errors,
        o.getString("output_file_id"),
        o.getString("error_file_id"),
        o.getLong("created_at"),
        o.getLong("in_progress_at"),
        o.getLong("finalizing_at"),
        o.getLong("completed_at"),
        o.getLong("failed_at"),
        o.getLong("cancelling_at"),
        o.getLong("cancelled_at"),
        new Counts(c.getInteger("total"), c.getInteger("completed"), c.getInteger("failed")),
        meta);
  }
}
