package io.llavaserve.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Iterator;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Streams {@code POST /v1/chat/completions} answers as server-sent events. A chunk with logprobs
 * holds one token event per entry (an entry's token text is its key); without logprobs each
 * non-empty content delta is one token event. The usage chunk gives the completion tokens to check
 * them against. The {@link HttpClient} is shared by all clients of a run.
 */
final class SseBenchClient implements BenchClient<String> {

  /** No cut: read the answer to its end. */
  static final int WHOLE = Integer.MAX_VALUE;

  private final HttpClient http;
  private final URI uri;
  private final String apiKey;
  private final Duration timeout;

  SseBenchClient(HttpClient http, URI base) {
    this(http, base, null, Duration.ofMinutes(30));
  }

  /**
   * @param apiKey bearer key, or null
   * @param timeout how long the response headers may take
   */
  SseBenchClient(HttpClient http, URI base, String apiKey, Duration timeout) {
    this.http = http;
    this.uri = base.resolve("/v1/chat/completions");
    this.apiKey = apiKey;
    this.timeout = timeout;
  }

  @Override
  public BenchStats.Trace send(String body) throws Exception {
    return send(body, WHOLE);
  }

  /**
   * Sends {@code body}; after {@code cutAfter} token events the client stops reading and closes the
   * stream, which closes the connection (the only way an SSE client can cancel).
   */
  BenchStats.Trace send(String body, int cutAfter) throws Exception {
    HttpRequest.Builder request =
        BenchClient.post(uri, body, apiKey, timeout).header("Accept", "text/event-stream");
    BenchStats.Recorder trace = new BenchStats.Recorder();
    HttpResponse<Stream<String>> response =
        http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
    try (Stream<String> lines = response.body()) {
      if (response.statusCode() != 200) {
        String text = lines.collect(Collectors.joining(" "));
        return trace.failed("HTTP " + response.statusCode() + ": " + text);
      }
      Iterator<String> it = lines.iterator();
      while (it.hasNext()) {
        if (trace.tokens() >= cutAfter) {
          return trace.cut();
        }
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
          delta(choices.getJsonObject(0), trace);
        }
        JsonObject usage = chunk.getJsonObject("usage");
        if (usage != null) {
          trace.usage(usage);
        }
      }
      return trace.failed("the stream ended without data: [DONE]");
    }
  }

  private static void delta(JsonObject choice, BenchStats.Recorder trace) {
    JsonObject delta = choice.getJsonObject("delta");
    String content = delta == null ? null : delta.getString("content");
    String piece = content == null ? "" : content;
    JsonObject logprobs = choice.getJsonObject("logprobs");
    JsonArray entries = logprobs == null ? null : logprobs.getJsonArray("content");
    if (entries == null) {
      if (content != null && !content.isEmpty()) {
        trace.token(content, content);
      }
      return;
    }
    // the delta's text belongs to its tokens together; the first carries it
    for (int i = 0; i < entries.size(); i++) {
      trace.token(entries.getJsonObject(i).getString("token"), i == 0 ? piece : "");
    }
    if (entries.isEmpty()) {
      trace.text(piece); // the held-back tail at the end
    }
  }
}
