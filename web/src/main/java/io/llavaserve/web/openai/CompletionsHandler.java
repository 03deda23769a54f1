package io.llavaserve.web.openai;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.http.ApiError;
import io.llavaserve.web.http.ErrorResponses;
import io.llavaserve.web.http.EventSubscriber;
import io.llavaserve.web.metrics.RequestTimer;
import io.llavaserve.web.metrics.ServerMetrics;
import io.reactivex.rxjava3.core.Flowable;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: parse and check on the event
 * loop, prepare images and prompt on a worker, submit to the engine, then answer from the events
 * on the connection's context. A client that goes away cancels its stream, which aborts the
 * request in the engine.
 */
public final class CompletionsHandler implements Handler<RoutingContext> {

  private final boolean chat;
  private final ServedModel served;
  private final ServerState state;
  private final RequestParser parser;
  private final PromptPreparer preparer;
  private final TokenText tokenText;
  private final ServerMetrics metrics;

  private CompletionsHandler(
      boolean chat,
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics) {
    this.chat = chat;
    this.metrics = metrics;
    this.served = served;
    this.state = state;
    this.parser = new RequestParser(limits);
    this.preparer = new PromptPreparer(vertx, served.model(), served.spec(), limits, fetcher);
    this.tokenText = new TokenText(served.model().tokenizer());
  }

  public static CompletionsHandler chat(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher f,
      ServerMetrics metrics) {
    return new CompletionsHandler(true, vertx, served, state, limits, f, metrics);
  }

  public static CompletionsHandler text(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher f,
      ServerMetrics metrics) {
    return new CompletionsHandler(false, vertx, served, state, limits, f, metrics);
  }

  @Override
  public void handle(RoutingContext ctx) {
    OpenAiRequest request;
    try {
      JsonObject body = RequestParser.body(ctx.body().buffer());
      request = chat ? parser.chat(body) : parser.completion(body);
      if (request.model() != null && !request.model().equals(served.id())) {
        throw ApiError.notFound(
            "model",
            "model_not_found",
            "The model `" + request.model() + "` does not exist; this server serves `"
                + served.id() + "`");
      }
    } catch (RuntimeException e) {
      metrics.requestRejected("invalid");
      ErrorResponses.send(ctx, e);
      return;
    }
    Context context = Vertx.currentContext();
    preparer
        .prepare(request)
        .onComplete(
            ar ->
                context.runOnContext(
                    v -> {
                      if (ar.failed()) {
                        metrics.requestRejected("invalid");
                        ErrorResponses.send(ctx, ar.cause());
                      } else if (!ctx.response().closed()) {
                        start(ctx, context, request, ar.result());
                      }
                    }));
  }

  private void start(
      RoutingContext ctx, Context context, OpenAiRequest request, PromptPreparer.Prepared prompt) {
    String requestId = (chat ? "chatcmpl-" : "cmpl-") + ErrorResponses.requestId(ctx);
    Flowable<TokenEvent> events;
    RequestTimer timer;
    try {
      SamplingParams params = request.sampling().params();
      if (!request.sampling().maxTokensGiven()) {
        // Like vLLM: with no max_tokens, generate up to the limit or the end of the context.
        int room = served.spec().maxModelLen() - prompt.positions();
        params = params.toBuilder().maxTokens(Math.max(1, Math.min(params.maxTokens(), room))).build();
      }
      events =
          served
              .engine()
              .submit(
                  GenerationRequest.interactive(requestId, prompt.ids(), prompt.images(), params));
      timer = metrics.startRequest();
      timer.queued();
    } catch (RuntimeException e) {
      metrics.requestRejected(e instanceof OverloadedException ? "overloaded" : "invalid");
      ErrorResponses.send(ctx, e);
      return;
    }
    events = events.doOnNext(e -> record(timer, e));
    Runnable leave = state.enter();
    boolean logprobs = request.sampling().params().logprobs() >= 0;
    ResponseFormat.Meta meta =
        new ResponseFormat.Meta(requestId, System.currentTimeMillis() / 1000, served.id(), logprobs);
    ResponseFormat format = chat ? new ChatFormat(meta, tokenText) : new TextFormat(meta, tokenText);
    HttpServerResponse response = ctx.response();
    EventSubscriber subscriber =
        request.stream()
            ? Answers.stream(context, response, format, request.includeUsage(), logprobs, requestId, leave)
            : Answers.whole(context, response, format, logprobs, requestId, leave);
    response.closeHandler(
        v -> {
          subscriber.cancel();
          leave.run();
        });
    events.subscribe(subscriber);
  }

  /** Feeds the request's timings to the metrics; runs on the engine thread. */
  private static void record(RequestTimer timer, TokenEvent event) {
    if (event instanceof TokenEvent.Token t) {
      if (t.index() == 0) {
        timer.firstToken();
      } else {
        timer.token();
      }
    } else if (event instanceof TokenEvent.Finished f) {
      timer.finished(
          f.reason().wireName(),
          f.usage().promptTokens(),
          f.usage().completionTokens(),
          f.usage().cachedPromptTokens());
    }
  }
}
