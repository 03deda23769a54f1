package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.http.ApiError;
import io.llavaserve.web.http.ErrorResponses;
import io.llavaserve.web.http.EventSubscriber;
import io.llavaserve.web.sse.SseWriter;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.logging.Logger;

/**
 * Turns a request's token events into its HTTP answer: server-sent chunks, or one JSON object at
 * the end. Each answer runs {@code leave} exactly once, when it finishes or its client goes away.
 */
final class Answers {

  private static final Logger LOG = Logger.getLogger(Answers.class.getName());

  private Answers() {}

  /** A subscriber that streams chunks as server-sent events. */
  static EventSubscriber stream(
      io.vertx.core.Context context,
      HttpServerResponse response,
      ResponseFormat format,
      boolean includeUsage,
      boolean logprobs,
      String requestId,
      Runnable leave) {
    SseWriter sse = new SseWriter(response);
    sse.open();
    JsonObject first = format.firstChunk();
    if (first != null) {
      sse.data(first);
    }
    return new EventSubscriber(
        context,
        sse.gate(),
        new EventSubscriber.Sink() {
          @Override
          public void onEvent(TokenEvent event) {
            if (event instanceof TokenEvent.Token t) {
              if (!t.text().isEmpty() || logprobs) {
                sse.data(format.deltaChunk(t.text(), List.of(t)));
              }
            } else if (event instanceof TokenEvent.Finished f) {
              if (!f.text().isEmpty()) {
                sse.data(format.deltaChunk(f.text(), List.of()));
              }
              if (f.reason() == FinishReason.ERROR) {
                sse.data(internal(requestId, f.error()).toJson());
              } else {
                sse.data(format.finishChunk(f.reason()));
                if (includeUsage) {
                  sse.data(format.usageChunk(f.usage()));
                }
              }
              sse.done();
              leave.run();
            }
          }

          @Override
          public void onFailure(Throwable failure) {
            sse.data(ErrorResponses.toApiError(failure, requestId).toJson());
            sse.done();
            leave.run();
          }
        });
  }

  /** A subscriber that gathers the whole answer and sends it as one object. */
  static EventSubscriber whole(
      io.vertx.core.Context context,
      HttpServerResponse response,
      ResponseFormat format,
      boolean logprobs,
      String requestId,
      Runnable leave) {
    WholeAnswer answer = new WholeAnswer(format, logprobs);
    return new EventSubscriber(
        context,
        EventSubscriber.Gate.OPEN,
        new EventSubscriber.Sink() {
          @Override
          public void onEvent(TokenEvent event) {
            if (event instanceof TokenEvent.Token t) {
              answer.add(t);
            } else if (event instanceof TokenEvent.Finished f) {
              if (f.reason() == FinishReason.ERROR) {
                ErrorResponses.send(response, internal(requestId, f.error()));
              } else {
                response
                    .putHeader("Content-Type", "application/json")
                    .end(answer.finish(f).encode());
              }
              leave.run();
            }
          }

          @Override
          public void onFailure(Throwable failure) {
            ErrorResponses.send(response, ErrorResponses.toApiError(failure, requestId));
            leave.run();
          }
        });
  }

  private static ApiError internal(String requestId, String error) {
    LOG.severe("request " + requestId + " failed in the engine: " + error);
    return ApiError.internal(requestId);
  }
}
