package io.llavaserve.web.http;

import io.llavaserve.batching.request.Priority;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.lifecycle.Gate;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.sse.SseAnswer;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions} over plain HTTP: the request
 * goes through the {@link RequestLifecycle}; the answer is server-sent events ({@link SseAnswer})
 * or one JSON object ({@link JsonAnswer}). A client that goes away cancels its request, which
 * aborts it in the engine.
 */
public final class CompletionsHandler implements Handler<RoutingContext> {

  private final RequestLifecycle lifecycle;
  private final Endpoint endpoint;

  public CompletionsHandler(RequestLifecycle lifecycle, Endpoint endpoint) {
    this.lifecycle = lifecycle;
    this.endpoint = endpoint;
  }

  @Override
  public void handle(RoutingContext ctx) {
    Generation generation;
    try {
      generation =
          lifecycle.accept(
              endpoint,
              lifecycle.body(ctx.body().buffer()),
              ErrorResponses.requestId(ctx),
              Priority.INTERACTIVE);
    } catch (RuntimeException e) {
      ErrorResponses.send(ctx, e);
      return;
    }
    HttpServerResponse response = ctx.response();
    if (response.closed()) {
      return; // gone before its body was read
    }
    Generation.Listener answer;
    Gate gate;
    if (generation.request().stream()) {
      SseAnswer sse = new SseAnswer(generation, response);
      answer = sse;
      gate = sse.gate();
    } else {
      answer = new JsonAnswer(generation, response);
      gate = Gate.OPEN;
    }
    response.closeHandler(v -> generation.cancel());
    generation.start(Generation.on(Vertx.currentContext()), gate, answer);
  }
}
