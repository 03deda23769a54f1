package io.llavaserve.web.batchjobs;

import io.vertx.core.json.JsonObject;

/**
 * A file in the data directory, as OpenAI's {@code file} object describes it.
 *
 * @param id {@code file-...}
 * @param bytes size of the content
 * @param createdAt Unix seconds
 * @param filename the name it was uploaded (or produced) with
 * @param purpose {@code batch}, {@code batch_output}
 */
public record StoredFile(String id, long bytes, long createdAt, String filename, String purpose) {

  public JsonObject toJson() {
    return new JsonObject()
        .put("id", id)
        .put("object", "file")
        .put("bytes", bytes)
        .put("created_at", createdAt)
        .put("filename", filename)
        .put("purpose", purpose)
        .put("status", "processed")
        .put("status_details", (String) null);
  }

  static StoredFile fromJson(JsonObject o) {
    return new StoredFile(
        o.getString("id"),
        o.getLong("bytes"),
        o.getLong("created_at"),
        o.getString("filename"),
        o.getString("purpose"));
  }
}
