package io.llavaserve.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Iterator;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Streams {@code POST /v1/chat/completions} answers as server-sent events. Each non-empty content
 * delta is one token event; the usage chunk gives the completion tokens to check them against. The
 * {@link HttpClient} is shared by all clients of a run.
 */
final class SseBenchClient implements BenchClient<String> {

  private final HttpClient http;
  private final URI uri;

  SseBenchClient(HttpClient http, URI base) {
    this.http = http;
    this.uri = base.resolve("/v1/chat/completions");
  }

  @Override
  public BenchStats.Trace send(String body) throws Exception {
    HttpRequest request =
        HttpRequest.newBuilder(uri)
            .header("Content-Type", "application/json")
            .header("Accept", "text/event-stream")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build();
    BenchStats.Recorder trace = new BenchStats.Recorder();
    HttpResponse<Stream<String>> response = http.send(request, HttpResponse.BodyHandlers.ofLines());
    try (Stream<String> lines = response.body()) {
      if (response.statusCode() != 200) {
        String text = lines.collect(Collectors.joining(" "));
        return trace.failed("HTTP " + response.statusCode() + ": " + text);
      }
      Iterator<String> it = lines.iterator();
      while (it.hasNext()) {
        String line = it.next();
        if (!line.startsWith("data:")) {
          continue; // blank separators and comments
        }
        String data = line.substring(5).strip();
        if (data.equals("[DONE]")) {
          return trace.done();
        }
        JsonObject chunk = new JsonObject(data);
        if (chunk.containsKey("error")) {
          return trace.failed("error event: " + chunk.getJsonObject("error").getString("message"));
        }
        JsonArray choices = chunk.getJsonArray("choices");
        if (choices != null && !choices.isEmpty()) {
          JsonObject delta = choices.getJsonObject(0).getJsonObject("delta");
          String content = delta == null ? null : delta.getString("content");
          if (content != null && !content.isEmpty()) {
            trace.token();
          }
        }
        JsonObject usage = chunk.getJsonObject("usage");
        if (usage != null) {
          trace.usage(usage.getInteger("completion_tokens", -1));
        }
      }
      return trace.failed("the stream ended without data: [DONE]");
    }
  }
}
