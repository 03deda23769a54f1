package io.llavaserve.web.batchjobs;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.FileUpload;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code /v1/files}: multipart uploads (already streamed to the data directory by the body handler)
 * become stored files; listing, describing, downloading and deleting them. Disk work runs on a
 * worker, never on the event loop; a data directory that cannot take a write is a 507 naming why.
 */
public final class FilesHandler {

  private final FileStore files;

  public FilesHandler(FileStore files) {
    this.files = files;
  }

  public void upload(RoutingContext ctx) {
    String purpose = ctx.request().getFormAttribute("purpose");
    if (!"batch".equals(purpose)) {
      ErrorResponses.send(
          ctx, ApiError.badRequest("purpose", "purpose must be \"batch\", got " + purpose));
      return;
    }
    FileUpload upload =
        ctx.fileUploads().stream().filter(u -> u.name().equals("file")).findFirst().orElse(null);
    if (upload == null) {
      ErrorResponses.send(
          ctx, ApiError.badRequest("file", "file is required (a multipart part named \"file\")"));
      return;
    }
    String name =
        upload.fileName() == null || upload.fileName().isBlank()
            ? "upload.jsonl"
            : upload.fileName();
    answer(
        ctx,
        ctx.vertx()
            .executeBlocking(
                () -> {
                  try {
                    return files.add(Path.of(upload.uploadedFileName()), name, purpose).toJson();
                  } catch (IOException e) {
                    throw StorageFailures.apiError("cannot store the file", e);
                  }
                },
                false));
  }

  /**
   * An upload the body handler could not write (the data directory is full or read-only): a 507
   * naming the cause; the body handler has deleted what it wrote. Other failures (a body over the
   * limit) go on to the router's handlers.
   */
  public void uploadFailed(RoutingContext ctx) {
    if (StorageFailures.is(ctx.failure())) {
      ErrorResponses.send(
          ctx.response(), StorageFailures.apiError("cannot store the upload", ctx.failure()));
    } else {
      ctx.next();
    }
  }

  public void list(RoutingContext ctx) {
    JsonArray data = new JsonArray();
    String purpose = ctx.request().getParam("purpose");
    files.list().stream()
        .filter(f -> purpose == null || f.purpose().equals(purpose))
        .forEach(f -> data.add(f.toJson()));
    send(ctx, new JsonObject().put("object", "list").put("data", data).put("has_more", false));
  }

  public void get(RoutingContext ctx) {
    StoredFile f = find(ctx);
    if (f != null) {
      send(ctx, f.toJson());
    }
  }

  public void content(RoutingContext ctx) {
    StoredFile f = find(ctx);
    if (f != null) {
      ctx.response()
          .putHeader("Content-Type", "application/jsonl")
          .sendFile(files.content(f.id()).toString())
          .onFailure(e -> ErrorResponses.send(ctx, e));
    }
  }

  public void delete(RoutingContext ctx) {
    StoredFile f = find(ctx);
    if (f != null) {
      answer(
          ctx,
          ctx.vertx()
              .executeBlocking(
                  () -> {
                    try {
                      files.delete(f.id());
                    } catch (IOException e) {
                      throw StorageFailures.apiError("cannot delete the file", e);
                    }
                    return new JsonObject()
                        .put("id", f.id())
                        .put("object", "file")
                        .put("deleted", true);
                  },
                  false));
    }
  }

  private StoredFile find(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    StoredFile f = files.get(id).orElse(null);
    if (f == null) {
      ErrorResponses.send(ctx, ApiError.notFound("file_id", "not_found", "no file with id " + id));
    }
    return f;
  }

  static void answer(RoutingContext ctx, Future<JsonObject> result) {
    result.onComplete(
        ar -> {
          if (ar.succeeded()) {
            send(ctx, ar.result());
          } else {
            ErrorResponses.send(ctx, ar.cause());
          }
        });
  }

  static void send(RoutingContext ctx, JsonObject body) {
    if (!ctx.response().ended() && !ctx.response().closed()) {
      ctx.response().putHeader("Content-Type", "application/json").end(body.encode());
    }
  }
}
