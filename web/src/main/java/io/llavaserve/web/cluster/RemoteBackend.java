package io.llavaserve.web.cluster;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.lifecycle.Backend;
import io.llavaserve.web.openai.TokenText;
import io.reactivex.rxjava3.core.Flowable;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * The engines of the cluster as a gateway's {@link Backend}: a request is routed ({@link
 * CacheAwareRouter}), sent to its engine's address, and once the engine has taken it its events
 * come back as a {@link RemoteStream}. A request its engine did not take (the engine left, or could
 * not be reached) goes to another engine; one whose engine leaves while it runs ends with a 503
 * {@code engine_unavailable} error. Safe on any thread.
 */
final class RemoteBackend implements Backend {

  /** Events an engine may send before the gateway's client has read any. */
  static final int WINDOW = 64;

  /** Credits are granted in batches of this many events. */
  private static final int CREDIT_BATCH = WINDOW / 4;

  private static final Logger LOG = Logger.getLogger(RemoteBackend.class.getName());

  private final Vertx vertx;
  private final String self;
  private final EngineTable table;
  private final CacheAwareRouter router;
  private final ClusterMetrics metrics;
  private final long startTimeoutMillis;
  private final long joinedNanos = System.nanoTime();
  private final long joinGraceNanos;
  private final Map<String, RemoteStream> streams = new ConcurrentHashMap<>();
  private final Map<String, Map<Integer, String>> pieces = new ConcurrentHashMap<>();

  RemoteBackend(
      Vertx vertx,
      String self,
      EngineTable table,
      CacheAwareRouter router,
      ClusterMetrics metrics,
      long startTimeoutMillis,
      long joinGraceMillis) {
    this.vertx = vertx;
    this.self = self;
    this.table = table;
    this.router = router;
    this.metrics = metrics;
    this.startTimeoutMillis = startTimeoutMillis;
    this.joinGraceNanos = joinGraceMillis * 1_000_000L;
  }

  /**
   * {@inheritDoc}
   *
   * <p>A model no engine offers is a 404, but not in the gateway's first {@code joinGraceMillis}: a
   * gateway that just joined may not have heard every engine yet, so it answers 503 {@code
   * engine_unavailable} (retry) instead, and a batch job resumed at its start waits for them.
   */
  @Override
  public String resolve(String requested) {
    Map<String, Integer> models = table.models();
    if (models.isEmpty()) {
      throw ApiError.engineUnavailable("no engine in the cluster serves a model yet; retry later");
    }
    if (requested == null) {
      return models.keySet().iterator().next();
    }
    if (!models.containsKey(requested) && System.nanoTime() - joinedNanos < joinGraceNanos) {
      throw ApiError.engineUnavailable(
          "no engine of model " + requested + " has been heard from yet; retry later");
    }
    if (!models.containsKey(requested)) {
      throw ApiError.notFound(
          "model",
          "model_not_found",
          "The model `" + requested + "` does not exist; this cluster serves " + models.keySet());
    }
    return requested;
  }

  @Override
  public ToolCallSyntax toolSyntax(String model) {
    return table.toolCalls(model);
  }

  @Override
  public TokenText tokenText(String model) {
    Map<Integer, String> known = pieces.computeIfAbsent(model, m -> new ConcurrentHashMap<>());
    return new TokenText(known::get);
  }

  @Override
  public Future<Submit> prepare(Job job) {
    // Images and prompt are prepared on the engine, which holds the model.
    return Future.succeededFuture(() -> submit(job));
  }

  private Future<Submitted> submit(Job job) {
    Promise<Submitted> submitted = Promise.promise();
    long start = System.nanoTime();
    CacheKeys keys = CacheKeys.of(job.body());
    attempt(job, keys, new HashSet<>(), submitted, start, true);
    return submitted.future();
  }

  /**
   * Routes the request among the engines not yet tried, and sends it.
   *
   * @param startNanos when the routing decision began
   * @param first whether this is the request's first decision (its time is recorded)
   */
  private void attempt(
      Job job,
      CacheKeys keys,
      Set<String> tried,
      Promise<Submitted> submitted,
      long startNanos,
      boolean first) {
    CacheAwareRouter.Route route = router.route(table.candidates(job.model(), keys, tried));
    if (first) {
      metrics.routingTook(System.nanoTime() - startNanos);
    }
    if (route == null) {
      submitted.fail(
          ApiError.engineUnavailable(
              "no engine of model " + job.model() + " is available in the cluster; retry later"));
      return;
    }
    metrics.routed(tried.isEmpty() ? route.how() : CacheAwareRouter.How.FALLBACK);
    table.sent(route.node(), keys);
    String id = UUID.randomUUID().toString();
    String engine = route.node();
    RemoteStream stream =
        new RemoteStream(id, engine, new Credits(id, engine)::grant, () -> cancel(id, engine));
    streams.put(id, stream);
    JsonObject start =
        new JsonObject()
            .put("k", "start")
            .put("s", id)
            .put("gw", self)
            .put("endpoint", job.request().endpoint().name())
            .put("rid", job.requestId())
            .put("priority", job.priority().name())
            .put("credits", WINDOW)
            .put("body", job.body());
    Runnable retry =
        () -> {
          tried.add(engine);
          attempt(job, keys, tried, submitted, System.nanoTime(), false);
        };
    lost.put(id, retry);
    vertx
        .eventBus()
        .<JsonObject>request(
            StreamFrames.engineAddress(engine),
            start,
            new DeliveryOptions().setSendTimeout(startTimeoutMillis))
        .onComplete(
            ar -> {
              lost.remove(id);
              if (!stream.started()) {
                return; // the engine left first: handed on already
              }
              if (ar.failed()) {
                LOG.warning(
                    "engine "
                        + engine
                        + " did not take request "
                        + job.requestId()
                        + ": "
                        + ar.cause());
                forget(stream);
                cancel(id, engine); // in case it took it after all
                retry.run();
                return;
              }
              JsonObject reply = ar.result().body();
              if ("e".equals(reply.getString("k"))) {
                forget(stream);
                ApiError refused = StreamFrames.error(reply);
                if (refused.isEngineUnavailable()) {
                  retry.run(); // the engine is stopping: not taken, so another one may
                } else {
                  submitted.fail(refused);
                }
                return;
              }
              submitted.complete(
                  new Submitted(reply.getInteger("positions", 0), Flowable.fromPublisher(stream)));
            });
  }

  /** Re-routes of requests not yet taken, by stream id. */
  private final Map<String, Runnable> lost = new ConcurrentHashMap<>();

  /** Frames from an engine, on the gateway's event-bus thread. */
  void onFrame(Message<JsonObject> message) {
    for (JsonObject f : StreamFrames.frames(message.body())) {
      onFrame(f);
    }
  }

  private void onFrame(JsonObject f) {
    RemoteStream stream = streams.get(f.getString("s"));
    if (stream == null) {
      return; // cancelled, or its engine was declared gone
    }
    if ("e".equals(f.getString("k"))) {
      forget(stream);
      stream.fail(StreamFrames.error(f));
      return;
    }
    JsonObject p = f.getJsonObject("p");
    TokenEvent event = StreamFrames.toEvent(f);
    if (p != null) {
      EngineLoad load = table.load(stream.engine);
      if (load != null) {
        Map<Integer, String> known =
            pieces.computeIfAbsent(load.model(), m -> new ConcurrentHashMap<>());
        p.forEach(e -> known.put(Integer.parseInt(e.getKey()), (String) e.getValue()));
      }
    }
    if (event instanceof TokenEvent.Finished fin && fin.last()) {
      forget(stream);
    }
    stream.push(event);
  }

  /**
   * An engine left: its requests not yet taken go to another engine, its running ones end with a
   * retryable error. Each is cancelled there too: an engine that only went silent for a while (a
   * stall, a long pause) would otherwise keep them, paused for credits that never come.
   */
  void engineGone(String engine) {
    for (RemoteStream stream : streams.values()) {
      if (!stream.engine.equals(engine)) {
        continue;
      }
      streams.remove(stream.id);
      vertx
          .eventBus()
          .send(
              StreamFrames.engineAddress(engine),
              new JsonObject().put("k", "cancel").put("s", stream.id));
      if (stream.end() == RemoteStream.State.PENDING) {
        Runnable retry = lost.remove(stream.id);
        if (retry != null) {
          retry.run();
        }
      } else {
        stream.fail(
            ApiError.engineUnavailable(
                "the engine running this request left the cluster; retry the request"));
      }
    }
  }

  /** Requests this gateway has running or waiting on engines. */
  int inFlight() {
    return streams.size();
  }

  /**
   * Stops routing frames and engine losses to a stream its engine has ended (or that failed to
   * start). Its state stays: the engine's frames travel to this gateway's consumer and its reply to
   * the start to the submitter's context, so a short answer's last frame may be handled before the
   * reply, which must still start the stream (its events wait in it).
   */
  private void forget(RemoteStream stream) {
    if (streams.remove(stream.id) != null) {
      table.ended(stream.engine);
    }
  }

  private void cancel(String id, String engine) {
    RemoteStream stream = streams.remove(id);
    if (stream != null) {
      stream.end();
      table.ended(engine);
    }
    vertx
        .eventBus()
        .send(StreamFrames.engineAddress(engine), new JsonObject().put("k", "cancel").put("s", id));
  }

  /** Grants an engine credits for one stream, in batches. */
  private final class Credits {
    private final String id;
    private final String engine;
    private long pending;

    Credits(String id, String engine) {
      this.id = id;
      this.engine = engine;
    }

    synchronized void grant(long n) {
      pending += n;
      if (pending >= CREDIT_BATCH) {
        vertx
            .eventBus()
            .send(
                StreamFrames.engineAddress(engine),
                new JsonObject().put("k", "credit").put("s", id).put("n", pending));
        pending = 0;
      }
    }
  }
}
