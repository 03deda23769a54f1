package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.openai.WholeAnswer;
import io.vertx.core.json.JsonObject;

/**
 * A {@link Generation.Listener} for an answer that does not stream (a JSON response, a batch job's
 * line): it gathers the tokens and reports once, either the endpoint's whole object or the error
 * that ended the request.
 */
public abstract class WholeAnswerListener implements Generation.Listener {

  private final Generation generation;
  private final WholeAnswer answer;
  private boolean failed; // a choice ended with an engine error: the answer is that error

  protected WholeAnswerListener(Generation generation) {
    this.generation = generation;
    this.answer = new WholeAnswer(generation.format(), generation.logprobs());
  }

  /** The request finished normally: its whole response object. */
  protected abstract void answered(JsonObject response);

  /** The request failed, before submission or in the engine. */
  protected abstract void failed(ApiError error);

  @Override
  public final void onEvent(TokenEvent event) {
    if (event instanceof TokenEvent.Token t) {
      answer.add(t);
    } else if (event instanceof TokenEvent.Finished f) {
      if (f.reason() == FinishReason.ERROR && !failed) {
        failed = true;
        failed(generation.engineError());
      } else if (!failed) {
        JsonObject whole = answer.finish(f);
        if (whole != null) {
          answered(whole);
        }
      }
    }
  }

  @Override
  public void onFailure(Throwable failure) {
    failed(generation.error(failure));
  }
}
