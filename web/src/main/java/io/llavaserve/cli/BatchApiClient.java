package io.llavaserve.cli;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;

/** The Files and Batches API over {@link HttpClient}: what the {@code batch} command calls. */
public final class BatchApiClient {

  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  private final String base;
  private final String apiKey;

  /**
   * @param base the server, e.g. {@code http://localhost:8000}
   * @param apiKey bearer key, or null
   */
  public BatchApiClient(String base, String apiKey) {
    this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    this.apiKey = apiKey;
  }

  /** Uploads a JSONL file with {@code purpose=batch}; returns the file object. */
  public JsonObject upload(Path file) throws IOException, InterruptedException {
    String boundary =
        "----llava-serve-" + HexFormat.of().formatHex(new SecureRandom().generateSeed(8));
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    String crlf = "\r\n";
    body.writeBytes(
        ("--"
                + boundary
                + crlf
                + "Content-Disposition: form-data; name=\"purpose\""
                + crlf
                + crlf
                + "batch"
                + crlf
                + "--"
                + boundary
                + crlf
                + "Content-Disposition: form-data; name=\"file\"; filename=\""
                + file.getFileName().toString().replace("\"", "")
                + "\""
                + crlf
                + "Content-Type: application/jsonl"
                + crlf
                + crlf)
            .getBytes(StandardCharsets.UTF_8));
    body.writeBytes(Files.readAllBytes(file));
    body.writeBytes((crlf + "--" + boundary + "--" + crlf).getBytes(StandardCharsets.UTF_8));
    HttpRequest r =
        request("/v1/files")
            .header("Content-Type", "multipart/form-data; boundary=" + boundary)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()))
            .build();
    return json(r);
  }

  /** Creates a batch over an uploaded file. */
  public JsonObject create(String fileId, String endpoint)
      throws IOException, InterruptedException {
    JsonObject body =
        new JsonObject()
            .put("input_file_id", fileId)
            .put("endpoint", endpoint)
            .put("completion_window", "24h");
    return json(
        request("/v1/batches")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.encode()))
            .build());
  }

  public JsonObject batch(String id) throws IOException, InterruptedException {
    return json(request("/v1/batches/" + id).GET().build());
  }

  public JsonObject cancel(String id) throws IOException, InterruptedException {
    return json(
        request("/v1/batches/" + id + "/cancel").POST(HttpRequest.BodyPublishers.noBody()).build());
  }

  /** A file's content, as text. */
  public String content(String fileId) throws IOException, InterruptedException {
    HttpResponse<String> r =
        http.send(
            request("/v1/files/" + fileId + "/content").GET().build(),
            HttpResponse.BodyHandlers.ofString());
    check(r);
    return r.body();
  }

  /** Downloads a file's content to {@code target}. */
  public void download(String fileId, Path target) throws IOException, InterruptedException {
    HttpResponse<Path> r =
        http.send(
            request("/v1/files/" + fileId + "/content").GET().build(),
            HttpResponse.BodyHandlers.ofFile(target));
    if (r.statusCode() != 200) {
      throw new IOException("GET /v1/files/" + fileId + "/content answered " + r.statusCode());
    }
  }

  private HttpRequest.Builder request(String path) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
    if (apiKey != null) {
      b.header("Authorization", "Bearer " + apiKey);
    }
    return b;
  }

  private JsonObject json(HttpRequest r) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(r, HttpResponse.BodyHandlers.ofString());
    check(response);
    return new JsonObject(response.body());
  }

  private static void check(HttpResponse<String> r) throws IOException {
    if (r.statusCode() != 200) {
      throw new IOException(
          r.request().method()
              + " "
              + r.uri().getPath()
              + " answered "
              + r.statusCode()
              + ": "
              + r.body());
    }
  }
}
