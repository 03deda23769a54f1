package io.llavaserve.web.sse;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.lifecycle.Gate;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.openai.ResponseFormat;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * A streamed answer ({@code "stream": true}): the endpoint's chunks as server-sent events, then
 * {@code data: [DONE]}. The status line goes out once the engine took the request, so that a
 * refusal before that is still an ordinary error response; a failure after it is an error chunk.
 */
public final class SseAnswer implements Generation.Listener {

  private final Generation generation;
  private final HttpServerResponse response;
  private final SseWriter sse;
  private boolean open;

  public SseAnswer(Generation generation, HttpServerResponse response) {
    this.generation = generation;
    this.response = response;
    this.sse = new SseWriter(response);
  }

  public Gate gate() {
    return sse.gate();
  }

  @Override
  public void onSubmitted() {
    open = true;
    sse.open();
    JsonObject first = generation.format().firstChunk();
    if (first != null) {
      sse.data(first);
    }
  }

  @Override
  public void onEvent(TokenEvent event) {
    ResponseFormat format = generation.format();
    if (event instanceof TokenEvent.Token t) {
      format
          .deltaChunks(t.text(), generation.logprobs() ? List.of(t) : List.of())
          .forEach(sse::data);
    } else if (event instanceof TokenEvent.Finished f) {
      format.deltaChunks(f.text(), List.of()).forEach(sse::data);
      if (f.reason() == FinishReason.ERROR) {
        sse.data(generation.engineError().toJson());
      } else {
        format.endChunks(f.reason()).forEach(sse::data);
        if (generation.request().includeUsage()) {
          sse.data(format.usageChunk(f.usage()));
        }
      }
      sse.done();
    }
  }

  @Override
  public void onFailure(Throwable failure) {
    if (!open) {
      ErrorResponses.send(response, generation.error(failure));
      return;
    }
    sse.data(generation.error(failure).toJson());
    sse.done();
  }
}
