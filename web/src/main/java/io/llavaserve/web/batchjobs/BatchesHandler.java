package io.llavaserve.web.batchjobs;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.openai.Endpoint;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code /v1/batches}: create, list (paginated), describe and cancel jobs. */
public final class BatchesHandler {

  private final BatchStore store;
  private final BatchRunner runner;

  public BatchesHandler(BatchStore store, BatchRunner runner) {
    this.store = store;
    this.runner = runner;
  }

  public void create(RoutingContext ctx) {
    BatchJob job;
    try {
      job = parse(ctx.body().asJsonObject());
    } catch (RuntimeException e) {
      ErrorResponses.send(
          ctx,
          e instanceof ApiError
              ? e
              : ApiError.badRequest(null, "the request body must be a JSON object"));
      return;
    }
    FilesHandler.answer(
        ctx,
        ctx.vertx()
            .executeBlocking(
                () -> {
                  BatchJob saved;
                  try {
                    saved = store.save(job);
                  } catch (IOException e) {
                    throw StorageFailures.apiError("cannot record the batch", e);
                  }
                  runner.start(saved.id());
                  return saved.toJson();
                },
                false));
  }

  private BatchJob parse(JsonObject body) {
    if (body == null) {
      throw ApiError.badRequest(null, "the request body must be a JSON object");
    }
    if (!(body.getValue("input_file_id") instanceof String fileId)) {
      throw ApiError.badRequest("input_file_id", "input_file_id is required");
    }
    StoredFile input =
        store
            .files()
            .get(fileId)
            .orElseThrow(
                () -> ApiError.notFound("input_file_id", "not_found", "no file with id " + fileId));
    if (!input.purpose().equals("batch")) {
      throw ApiError.badRequest(
          "input_file_id", "file " + fileId + " has purpose " + input.purpose() + ", not batch");
    }
    Object endpoint = body.getValue("endpoint");
    if (!(endpoint instanceof String e) || Endpoint.at(e).isEmpty()) {
      List<String> paths = Arrays.stream(Endpoint.values()).map(Endpoint::path).toList();
      throw ApiError.badRequest(
          "endpoint", "endpoint must be one of " + paths + ", got " + endpoint);
    }
    Object window = body.getValue("completion_window");
    if (!"24h".equals(window)) {
      throw ApiError.badRequest(
          "completion_window", "completion_window must be \"24h\", got " + window);
    }
    Map<String, String> metadata = new HashMap<>();
    Object meta = body.getValue("metadata");
    if (meta instanceof JsonObject m) {
      for (String k : m.fieldNames()) {
        if (!(m.getValue(k) instanceof String v)) {
          throw ApiError.badRequest("metadata", "metadata." + k + " must be a string");
        }
        metadata.put(k, v);
      }
    } else if (meta != null) {
      throw ApiError.badRequest("metadata", "metadata must be an object of strings");
    }
    return BatchJob.create((String) endpoint, fileId, "24h", metadata);
  }

  public void list(RoutingContext ctx) {
    int limit;
    try {
      String l = ctx.request().getParam("limit");
      limit = l == null ? 20 : Integer.parseInt(l);
    } catch (NumberFormatException e) {
      limit = -1;
    }
    if (limit < 1 || limit > 100) {
      ErrorResponses.send(
          ctx, ApiError.badRequest("limit", "limit must be an integer in [1, 100]"));
      return;
    }
    List<BatchJob> all = store.list();
    String after = ctx.request().getParam("after");
    int from = 0;
    if (after != null) {
      from = all.size();
      for (int i = 0; i < all.size(); i++) {
        if (all.get(i).id().equals(after)) {
          from = i + 1;
          break;
        }
      }
    }
    List<BatchJob> page = all.subList(from, Math.min(all.size(), from + limit));
    JsonArray data = new JsonArray();
    page.forEach(j -> data.add(j.toJson()));
    FilesHandler.send(
        ctx,
        new JsonObject()
            .put("object", "list")
            .put("data", data)
            .put("first_id", page.isEmpty() ? null : page.get(0).id())
            .put("last_id", page.isEmpty() ? null : page.get(page.size() - 1).id())
            .put("has_more", from + page.size() < all.size()));
  }

  public void get(RoutingContext ctx) {
    BatchJob job = find(ctx);
    if (job != null) {
      FilesHandler.send(ctx, job.toJson());
    }
  }

  public void cancel(RoutingContext ctx) {
    BatchJob job = find(ctx);
    if (job == null) {
      return;
    }
    if (!job.status().active()) {
      ErrorResponses.send(
          ctx,
          ApiError.conflict(
              "batch " + job.id() + " is " + job.status().wireName() + " and cannot be cancelled"));
      return;
    }
    FilesHandler.answer(
        ctx,
        Future.fromCompletionStage(runner.cancel(job.id()), ctx.vertx().getOrCreateContext())
            .map(BatchJob::toJson));
  }

  private BatchJob find(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    BatchJob job = store.get(id).orElse(null);
    if (job == null) {
      ErrorResponses.send(
          ctx, ApiError.notFound("batch_id", "not_found", "no batch with id " + id));
    }
    return job;
  }
}
