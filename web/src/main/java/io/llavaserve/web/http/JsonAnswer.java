package io.llavaserve.web.http;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.openai.WholeAnswer;
import io.vertx.core.http.HttpServerResponse;

/** An answer that did not stream: the endpoint's whole object, sent once the request finished. */
final class JsonAnswer implements Generation.Listener {

  private final Generation generation;
  private final HttpServerResponse response;
  private final WholeAnswer answer;

  JsonAnswer(Generation generation, HttpServerResponse response) {
    this.generation = generation;
    this.response = response;
    this.answer = new WholeAnswer(generation.format(), generation.logprobs());
  }

  @Override
  public void onEvent(TokenEvent event) {
    if (event instanceof TokenEvent.Token t) {
      answer.add(t);
    } else if (event instanceof TokenEvent.Finished f) {
      if (f.reason() == FinishReason.ERROR) {
        ErrorResponses.send(response, generation.engineError());
      } else {
        response.putHeader("Content-Type", "application/json").end(answer.finish(f).encode());
      }
    }
  }

  @Override
  public void onFailure(Throwable failure) {
    ErrorResponses.send(response, generation.error(failure));
  }
}
