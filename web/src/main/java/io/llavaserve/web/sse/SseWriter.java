package io.llavaserve.web.sse;

import io.llavaserve.web.lifecycle.Gate;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;

/**
 * Server-sent events as OpenAI streams them: each object a {@code data: {...}} line followed by a
 * blank line, and {@code data: [DONE]} at the end.
 */
public final class SseWriter {

  private final HttpServerResponse response;

  public SseWriter(HttpServerResponse response) {
    this.response = response;
  }

  /** Sends the status line and headers. */
  public void open() {
    response
        .setStatusCode(200)
        .setChunked(true)
        .putHeader("Content-Type", "text/event-stream; charset=utf-8")
        .putHeader("Cache-Control", "no-cache")
        .putHeader("X-Accel-Buffering", "no");
  }

  public void data(JsonObject event) {
    if (!response.closed()) {
      response.write("data: " + event.encode() + "\n\n");
    }
  }

  /** Writes the terminator and ends the response. */
  public void done() {
    if (!response.closed() && !response.ended()) {
      response.end("data: [DONE]\n\n");
    }
  }

  /** Backpressure of the response's write queue. */
  public Gate gate() {
    return new Gate() {
      @Override
      public boolean full() {
        return response.writeQueueFull();
      }

      @Override
      public void whenDrained(Runnable action) {
        response.drainHandler(
            v -> {
              response.drainHandler(null);
              action.run();
            });
      }
    };
  }
}
