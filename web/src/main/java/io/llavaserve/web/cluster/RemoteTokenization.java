package io.llavaserve.web.cluster;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.openai.Tokenization;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import java.util.HashSet;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * {@link Tokenization} at a gateway, which has no tokenizer: the body goes to the least-loaded
 * engine of the model it names (or of the cluster's first model), which answers it with its own
 * tokenizer and template, fetching and preprocessing a chat body's images to count their positions
 * as it would for a chat request ({@link EngineNode}); an engine that cannot be reached is skipped
 * for the next. The answer and its errors are the engine's, unchanged.
 */
final class RemoteTokenization implements Tokenization {

  private static final CacheKeys NO_KEYS = new CacheKeys(new long[0], new long[0]);

  private final Vertx vertx;
  private final EngineTable table;
  private final CacheAwareRouter router;
  private final UnaryOperator<String> resolve;
  private final long timeoutMillis;

  /**
   * @param resolve the model id a body's {@code model} names (null: the default); throws the
   *     gateway's 404 or 503
   */
  RemoteTokenization(
      Vertx vertx,
      EngineTable table,
      CacheAwareRouter router,
      UnaryOperator<String> resolve,
      long timeoutMillis) {
    this.vertx = vertx;
    this.table = table;
    this.router = router;
    this.resolve = resolve;
    this.timeoutMillis = timeoutMillis;
  }

  @Override
  public Future<JsonObject> tokenize(JsonObject body) {
    return call("tokenize", body);
  }

  @Override
  public Future<JsonObject> detokenize(JsonObject body) {
    return call("detokenize", body);
  }

  private Future<JsonObject> call(String kind, JsonObject body) {
    String model;
    try {
      model = resolve.apply(Tokenization.model(body));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    Promise<JsonObject> answer = Promise.promise();
    attempt(new JsonObject().put("k", kind).put("body", body), model, new HashSet<>(), answer);
    return answer.future();
  }

  private void attempt(JsonObject message, String model, Set<String> tried, Promise<JsonObject> p) {
    CacheAwareRouter.Route route = router.route(table.candidates(model, NO_KEYS, tried));
    if (route == null) {
      p.fail(
          ApiError.engineUnavailable(
              "no engine of model " + model + " is available in the cluster; retry later"));
      return;
    }
    vertx
        .eventBus()
        .<JsonObject>request(
            StreamFrames.engineAddress(route.node()),
            message,
            new DeliveryOptions().setSendTimeout(timeoutMillis))
        .onComplete(
            ar -> {
              if (ar.failed()) {
                tried.add(route.node());
                attempt(message, model, tried, p);
                return;
              }
              JsonObject reply = ar.result().body();
              if ("e".equals(reply.getString("k"))) {
                p.fail(StreamFrames.error(reply));
              } else {
                p.complete(reply.getJsonObject("body"));
              }
            });
  }
}
