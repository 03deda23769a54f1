package io.llavaserve.web.sse;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
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
  private boolean failed; // a choice ended with an engine error, which ended the stream
  private int completionTokens; // of the choices that finished

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
    for (int i = 0; i < generation.request().n(); i++) {
      JsonObject first = generation.format().firstChunk(i);
      if (first != null) {
        sse.data(first);
      }
    }
  }

  @Override
  public void onEvent(TokenEvent event) {
    ResponseFormat format = generation.format();
    if (failed) {
      return;
    }
    if (event instanceof TokenEvent.Token t) {
      format
          .deltaChunks(t.choice(), t.text(), generation.logprobs() ? List.of(t) : List.of())
          .forEach(sse::data);
    } else if (event instanceof TokenEvent.Finished f) {
      format.deltaChunks(f.choice(), f.text(), List.of()).forEach(sse::data);
      completionTokens += f.usage().completionTokens();
      if (f.reason() == FinishReason.ERROR) {
        failed = true;
        sse.data(generation.engineError().toJson());
        sse.done();
        return;
      }
      format.endChunks(f.choice(), f.reason()).forEach(sse::data);
      if (f.last()) {
        if (generation.request().includeUsage()) {
          // The prompt once, the completion tokens of every choice.
          sse.data(
              format.usageChunk(
                  new Usage(
                      f.usage().promptTokens(), f.usage().cachedPromptTokens(), completionTokens)));
        }
        sse.done();
      }
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
