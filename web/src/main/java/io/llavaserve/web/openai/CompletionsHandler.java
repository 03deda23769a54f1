package io.llavaserve.web.openai;

import io.llavaserve.web.http.ErrorResponses;
import io.llavaserve.web.http.EventSubscriber;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: parse and check on the event
 * loop, prepare images and prompt on a worker, submit to the engine, then answer from the events on
 * the connection's context. A client that goes away cancels its stream, which aborts the request in
 * the engine.
 */
public final class CompletionsHandler implements Handler<RoutingContext> {

  private final CompletionPipeline pipeline;

  public CompletionsHandler(CompletionPipeline pipeline) {
    this.pipeline = pipeline;
  }

  @Override
  public void handle(RoutingContext ctx) {
    OpenAiRequest request;
    try {
      request = pipeline.parse(pipeline.body(ctx.body().buffer()));
    } catch (RuntimeException e) {
      ErrorResponses.send(ctx, e);
      return;
    }
    Context context = Vertx.currentContext();
    pipeline
        .prepare(request)
        .onComplete(
            ar ->
                context.runOnContext(
                    v -> {
                      if (ar.failed()) {
                        ErrorResponses.send(ctx, ar.cause());
                      } else if (!ctx.response().closed()) {
                        start(ctx, context, request, ar.result());
                      }
                    }));
  }

  private void start(
      RoutingContext ctx, Context context, OpenAiRequest request, PromptPreparer.Prepared prompt) {
    boolean chat = pipeline.isChat();
    String requestId = (chat ? "chatcmpl-" : "cmpl-") + ErrorResponses.requestId(ctx);
    CompletionPipeline.Submitted submitted;
    try {
      submitted = pipeline.submit(requestId, request, prompt);
    } catch (RuntimeException e) {
      ErrorResponses.send(ctx, e);
      return;
    }
    Runnable leave = submitted.leave();
    boolean logprobs = submitted.logprobs();
    ResponseFormat.Meta meta =
        new ResponseFormat.Meta(
            requestId, System.currentTimeMillis() / 1000, pipeline.served().id(), logprobs);
    TokenText tokenText = pipeline.tokenText();
    ResponseFormat format =
        chat ? new ChatFormat(meta, tokenText) : new TextFormat(meta, tokenText);
    HttpServerResponse response = ctx.response();
    EventSubscriber subscriber =
        request.stream()
            ? Answers.stream(
                context, response, format, request.includeUsage(), logprobs, requestId, leave)
            : Answers.whole(context, response, format, logprobs, requestId, leave);
    response.closeHandler(
        v -> {
          subscriber.cancel();
          leave.run();
        });
    submitted.events().subscribe(subscriber);
  }
}
