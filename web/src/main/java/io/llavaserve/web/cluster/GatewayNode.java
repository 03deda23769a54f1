package io.llavaserve.web.cluster;

import io.llavaserve.web.lifecycle.Backend;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.Tokenization;
import io.vertx.core.AbstractVerticle;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.logging.Logger;

/**
 * The gateway side of the cluster: keeps the {@link EngineTable} from the engines' heartbeats,
 * takes the frames of its remote streams, and notices an engine that leaves, by Hazelcast's
 * membership events or by its missing heartbeats ({@code cluster.engine-timeout-ms}). Its {@link
 * #backend} is what the gateway's request lifecycle submits to.
 */
public final class GatewayNode extends AbstractVerticle {

  private static final Logger LOG = Logger.getLogger(GatewayNode.class.getName());

  private final ClusterNode node;
  private final ClusterConfig config;
  private final EngineTable table = new EngineTable();

  /** Members that left: a late heartbeat of theirs is not taken back (a restart has a new id). */
  private final java.util.Set<String> departed = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private ClusterMetrics metrics;
  private RemoteBackend backend;
  private RemoteTokenization tokenization;

  public GatewayNode(ClusterNode node, ClusterConfig config) {
    this.node = node;
    this.config = config;
  }

  /** The engines' figures summed, for the gateway's {@link ServerMetrics}. */
  public io.llavaserve.batching.engine.EngineStats totals() {
    return table.totals();
  }

  /**
   * Binds the gateway's meters to {@code serverMetrics} and builds its backend; before the verticle
   * is deployed.
   */
  public Backend backend(ServerMetrics serverMetrics) {
    metrics = new ClusterMetrics(serverMetrics.registry(), table);
    CacheAwareRouter router =
        new CacheAwareRouter(
            config.balanceAbsThreshold(), config.balanceRelThreshold(), config.cacheAware());
    // Preparing images may take a while on a busy engine; a lost engine is noticed sooner.
    long preparing = Math.max(30_000, config.engineTimeoutMillis());
    backend =
        new RemoteBackend(
            node.vertx(),
            node.nodeId(),
            table,
            router,
            metrics,
            preparing,
            config.engineTimeoutMillis());
    // An engine answers /tokenize after fetching and preprocessing the messages' images.
    tokenization = new RemoteTokenization(node.vertx(), table, router, backend::resolve, preparing);
    return backend;
  }

  /** {@code /tokenize} and {@code /detokenize}, answered by an engine; after {@link #backend}. */
  public Tokenization tokenization() {
    return tokenization;
  }

  /** {@code GET /v1/models}: every model of the cluster. */
  public Handler<RoutingContext> models() {
    return new ClusterModelsHandler(table);
  }

  @Override
  public void start(Promise<Void> started) {
    if (backend == null) {
      started.fail(new IllegalStateException("the gateway's backend is built before it starts"));
      return;
    }
    node.onMemberLeft(
        gone -> {
          departed.add(gone);
          context.runOnContext(v -> engineGone(gone, "left the cluster"));
        });
    long timeoutNanos = config.engineTimeoutMillis() * 1_000_000L;
    vertx.setPeriodic(
        Math.max(50, config.heartbeatMillis() / 4),
        id -> table.expire(System.nanoTime(), timeoutNanos).forEach(e -> gone(e, "went silent")));
    Promise<Void> loads = Promise.promise();
    vertx
        .eventBus()
        .<JsonObject>consumer(StreamFrames.LOADS, m -> heard(EngineLoad.fromJson(m.body())))
        .completionHandler(loads);
    Promise<Void> frames = Promise.promise();
    vertx
        .eventBus()
        .<JsonObject>consumer(StreamFrames.gatewayAddress(node.nodeId()), backend::onFrame)
        .completionHandler(frames);
    Future.all(loads.future(), frames.future()).<Void>mapEmpty().onComplete(started);
  }

  private void heard(EngineLoad load) {
    if (departed.contains(load.node())) {
      return;
    }
    if (table.update(load, System.nanoTime())) {
      LOG.info("engine " + load.node() + " serving " + load.model() + " joined");
      metrics.engineUp(load.node(), load.model());
    }
  }

  private void engineGone(String engine, String how) {
    if (table.remove(engine)) {
      gone(engine, how);
    }
  }

  /** An engine removed from the table: its meters go, its requests are re-routed or failed. */
  private void gone(String engine, String how) {
    LOG.warning("engine " + engine + " " + how + "; its requests are re-routed or failed");
    metrics.engineDown(engine);
    backend.engineGone(engine);
  }

  /** Requests this gateway has on engines now. */
  public int inFlight() {
    return backend.inFlight();
  }
}
