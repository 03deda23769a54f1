package io.llavaserve.web.openai;

import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.function.Function;

/**
 * vLLM's {@code POST /tokenize} and {@code POST /detokenize} routes, with its request and response
 * shapes, over a {@link Tokenization}: this process's model, or an engine's across the cluster.
 */
public final class TokenizeHandler {

  private final Tokenization tokenization;

  public TokenizeHandler(Tokenization tokenization) {
    this.tokenization = tokenization;
  }

  /** {@code POST /tokenize}; see {@link Tokenization#tokenize}. */
  public void tokenize(RoutingContext ctx) {
    answer(ctx, tokenization::tokenize);
  }

  /** {@code POST /detokenize}; see {@link Tokenization#detokenize}. */
  public void detokenize(RoutingContext ctx) {
    answer(ctx, tokenization::detokenize);
  }

  private static void answer(RoutingContext ctx, Function<JsonObject, Future<JsonObject>> call) {
    Future<JsonObject> answer;
    try {
      answer = call.apply(RequestParser.body(ctx.body().buffer()));
    } catch (RuntimeException e) {
      answer = Future.failedFuture(e);
    }
    answer
        .onSuccess(
            o -> ctx.response().putHeader("Content-Type", "application/json").end(o.encode()))
        .onFailure(e -> ErrorResponses.send(ctx, e));
  }
}
