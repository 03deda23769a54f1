package io.llavaserve.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/**
 * Sends {@code POST /v1/chat/completions} without streaming and reads the whole answer. Its tokens
 * all arrive at once, at the end: one token event per logprobs entry when the request asks for
 * logprobs, else one per usage token. A client that gives up waits less than the answer takes: the
 * request's timeout fires and the connection closes under the server (a disconnect).
 */
final class JsonBenchClient implements BenchClient<String> {

  private final HttpClient http;
  private final URI uri;
  private final String apiKey;
  private final Duration timeout;

  /**
   * @param apiKey bearer key, or null
   * @param timeout how long an answer may take
   */
  JsonBenchClient(HttpClient http, URI base, String apiKey, Duration timeout) {
    this.http = http;
    this.uri = base.resolve("/v1/chat/completions");
    this.apiKey = apiKey;
    this.timeout = timeout;
  }

  @Override
  public BenchStats.Trace send(String body) throws Exception {
    return send(body, null);
  }

  /**
   * Sends {@code body}; with {@code giveUpAfter} the client drops the connection if the answer has
   * not come by then, and the trace is cut.
   */
  BenchStats.Trace send(String body, Duration giveUpAfter) throws Exception {
    HttpRequest.Builder request =
        BenchClient.post(uri, body, apiKey, giveUpAfter != null ? giveUpAfter : timeout);
    BenchStats.Recorder trace = new BenchStats.Recorder();
    HttpResponse<String> response;
    try {
      response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    } catch (HttpTimeoutException e) {
      if (giveUpAfter != null) {
        return trace.cut();
      }
      throw e;
    }
    if (response.statusCode() != 200) {
      return trace.failed("HTTP " + response.statusCode() + ": " + response.body());
    }
    return answer(new JsonObject(response.body()), trace);
  }

  /**
   * The trace of a whole chat-completions answer, e.g. a batch job's output line's body: its text,
   * its logprobs' tokens (else its usage's count of tokens) and its usage.
   */
  static BenchStats.Trace answer(JsonObject answer, BenchStats.Recorder trace) {
    JsonObject choice = answer.getJsonArray("choices").getJsonObject(0);
    String content = choice.getJsonObject("message").getString("content", "");
    JsonObject usage = answer.getJsonObject("usage");
    int completion = usage == null ? -1 : usage.getInteger("completion_tokens", -1);
    JsonObject logprobs = choice.getJsonObject("logprobs");
    JsonArray entries = logprobs == null ? null : logprobs.getJsonArray("content");
    if (entries != null) {
      for (int i = 0; i < entries.size(); i++) {
        trace.token(entries.getJsonObject(i).getString("token"), "");
      }
    } else {
      for (int i = 0; i < completion; i++) {
        trace.token();
      }
    }
    trace.text(content);
    trace.usage(completion);
    return trace.done();
  }
}
