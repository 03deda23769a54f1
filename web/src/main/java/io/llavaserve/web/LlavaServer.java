package io.llavaserve.web;

import io.llavaserve.web.batchjobs.BatchRunner;
import io.llavaserve.web.batchjobs.BatchStore;
import io.llavaserve.web.cluster.ClusterConfig;
import io.llavaserve.web.cluster.ClusterNode;
import io.llavaserve.web.cluster.EngineNode;
import io.llavaserve.web.cluster.GatewayNode;
import io.llavaserve.web.cluster.NodeRole;
import io.llavaserve.web.http.KeyQuotas;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.media.MediaFetcher;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.LocalTokenization;
import io.llavaserve.web.openai.ModelsHandler;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.openai.Tokenization;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The HTTP server: {@link ApiVerticle} instances, one per event loop, sharing one port. It binds
 * first and answers while the model loads ({@code /health} 200, {@code /ready} and every API route
 * 503), then serves the API once {@link #serve} hands it the loaded model. It closes in two halves
 * around the engine, which it uses but does not own: {@link #drain} stops accepting (readiness and
 * new requests answer 503), lets running requests finish up to a timeout and stops the batch jobs;
 * the owner then closes the engine, whose last aborts still reach their clients, and then {@link
 * #close} closes Vert.x.
 */
public final class LlavaServer implements AutoCloseable {

  /** Front ends when {@code server.instances} is 0: Vert.x's own event-loop count. */
  public static final int DEFAULT_EVENT_LOOPS = VertxOptions.DEFAULT_EVENT_LOOP_POOL_SIZE;

  private static final Logger LOG = Logger.getLogger(LlavaServer.class.getName());

  private final Vertx vertx;
  private final ServerConfig config;
  private final ServerState state;
  private final List<ApiVerticle> instances;
  private final Duration drainTimeout;
  private final ClusterNode cluster; // null: a single node
  private volatile ServedModel served;
  private volatile boolean gateway;
  private volatile BatchRunner batches;
  private boolean drained;
  private boolean closed;

  private LlavaServer(
      Vertx vertx,
      ClusterNode cluster,
      ServerConfig config,
      ServerState state,
      List<ApiVerticle> instances) {
    this.vertx = vertx;
    this.cluster = cluster;
    this.config = config;
    this.state = state;
    this.instances = instances;
    this.drainTimeout = Duration.ofSeconds(config.drainTimeoutSeconds());
  }

  /**
   * Deploys {@link ServerConfig#instances()} front ends, one per event loop, all on one port, and
   * answers as a server whose model is loading; blocks until bound. A configured port 0 is resolved
   * by the first instance and shared by the others. With {@code cluster.enabled} the node joins the
   * cluster first (its Vert.x is clustered).
   */
  public static LlavaServer bind(ServerConfig config) throws Exception {
    int count = config.instances() > 0 ? config.instances() : DEFAULT_EVENT_LOOPS;
    VertxOptions options =
        new VertxOptions().setEventLoopPoolSize(Math.max(count, DEFAULT_EVENT_LOOPS));
    ClusterNode cluster =
        config.cluster().enabled() ? ClusterNode.join(config.cluster(), options) : null;
    Vertx vertx = cluster != null ? cluster.vertx() : Vertx.vertx(options);
    ServerState state = new ServerState();
    List<ApiVerticle> instances = new CopyOnWriteArrayList<>();
    // Port 0 as Vert.x spells a random port that all instances share: a negative one.
    int port = config.port() == 0 ? -1 : config.port();
    try {
      await(
          vertx.deployVerticle(
              () -> {
                ApiVerticle v = new ApiVerticle(config, state, port);
                instances.add(v);
                return v;
              },
              new DeploymentOptions().setInstances(count)));
    } catch (Exception e) {
      vertx.close();
      throw e;
    }
    return new LlavaServer(vertx, cluster, config, state, List.copyOf(instances));
  }

  /** Binds, then serves {@code served} at once. */
  public static LlavaServer start(ServerConfig config, ServedModel served, MediaConfig media)
      throws Exception {
    LlavaServer server = bind(config);
    try {
      server.serve(served, media);
    } catch (Exception e) {
      server.close();
      throw e;
    }
    return server;
  }

  /**
   * Starts answering the API with the loaded model on every instance; readiness turns 200. In a
   * cluster, an {@code engine} or {@code both} node also takes requests from gateways (an {@code
   * engine} node answers only health, readiness and metrics over HTTP).
   */
  public synchronized void serve(ServedModel served, MediaConfig media) throws Exception {
    if (this.served != null || gateway) {
      throw new IllegalStateException("the server already serves");
    }
    ClusterConfig clustered = config.cluster();
    if (cluster != null && !clustered.role().servesModel()) {
      throw new IllegalStateException("a gateway serves no model of its own: serveGateway()");
    }
    boolean publicApi = cluster == null || clustered.role().publicApi();
    ImageUrlFetcher fetcher =
        media.fetchEnabled()
            ? ImageUrlFetcher.of(new MediaFetcher(vertx, media))
            : ImageUrlFetcher.disabled();
    ServerMetrics metrics = new ServerMetrics(served.engine()::stats, served.id());
    if (served.model() != null) {
      metrics.kernels(served.model().kernels());
    }
    BatchStore batchStore =
        config.batch() != null && publicApi
            ? BatchStore.open(config.batch().dataDir(), config.batch().disk())
            : null;
    RequestLifecycle lifecycle =
        new RequestLifecycle(vertx, served, state, config.limits(), fetcher, metrics);
    BatchRunner runner =
        batchStore == null
            ? null
            : new BatchRunner(batchStore, lifecycle, config.batch().maxInFlight());
    KeyQuotas quotas =
        new KeyQuotas(
            config.apiKeys().size(),
            config.http().keyMaxConcurrent(),
            config.http().keyRequestsPerMinute());
    Tokenization tokenization = new LocalTokenization(vertx, served, config.limits(), fetcher);
    ApiVerticle.Api api =
        new ApiVerticle.Api(
            served,
            lifecycle,
            new ModelsHandler(served)::list,
            tokenization,
            metrics,
            batchStore,
            runner,
            quotas,
            publicApi);
    for (ApiVerticle v : instances) {
      await(v.serve(api));
    }
    this.served = served;
    state.ready();
    if (cluster != null) {
      // Once ready: its first heartbeat already offers the model to gateways.
      await(
          vertx.deployVerticle(
              new EngineNode(cluster, state, served, lifecycle, tokenization, clustered)));
    }
    batches = runner;
    if (batches != null) {
      batches.resumeAll(); // jobs a stop or a crash interrupted go on
    }
  }

  /**
   * Starts answering the API as a cluster gateway: requests go to the cluster's engines, {@code
   * /v1/models} lists their models, {@code /tokenize} and {@code /detokenize} are answered by an
   * engine; batch jobs keep their files in this gateway's data directory and spread their lines
   * over the engines, and jobs a stop or a crash interrupted resume. Readiness turns 200 (with no
   * engine yet, requests answer 503 and batch lines wait).
   */
  public synchronized void serveGateway() throws Exception {
    if (cluster == null || config.cluster().role() != NodeRole.GATEWAY) {
      throw new IllegalStateException(
          "serveGateway needs cluster.enabled and cluster.role=gateway");
    }
    if (served != null || gateway) {
      throw new IllegalStateException("the server already serves");
    }
    GatewayNode node = new GatewayNode(cluster, config.cluster());
    ServerMetrics metrics = new ServerMetrics(node::totals, "cluster");
    RequestLifecycle lifecycle =
        new RequestLifecycle(state, config.limits(), node.backend(metrics), metrics);
    await(vertx.deployVerticle(node));
    BatchStore batchStore =
        config.batch() != null
            ? BatchStore.open(config.batch().dataDir(), config.batch().disk())
            : null;
    BatchRunner runner =
        batchStore == null
            ? null
            : new BatchRunner(batchStore, lifecycle, config.batch().maxInFlight());
    KeyQuotas quotas =
        new KeyQuotas(
            config.apiKeys().size(),
            config.http().keyMaxConcurrent(),
            config.http().keyRequestsPerMinute());
    ApiVerticle.Api api =
        new ApiVerticle.Api(
            null,
            lifecycle,
            node.models(),
            node.tokenization(),
            metrics,
            batchStore,
            runner,
            quotas,
            true);
    for (ApiVerticle v : instances) {
      await(v.serve(api));
    }
    gateway = true;
    state.ready();
    batches = runner;
    if (batches != null) {
      batches.resumeAll(); // its lines wait until engines are heard from
    }
  }

  /** This node's membership of the cluster; null on a single node. */
  public ClusterNode cluster() {
    return cluster;
  }

  private static <T> T await(io.vertx.core.Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  /** Front ends deployed: one per event loop. */
  public int instances() {
    return instances.size();
  }

  public int port() {
    return instances.get(0).actualPort();
  }

  public ServerState state() {
    return state;
  }

  public ServedModel served() {
    return served;
  }

  /**
   * Stops accepting, waits for running requests up to the drain timeout, then stops the batch jobs
   * (their progress is kept; they resume at the next start). Vert.x still runs: {@link #close}
   * follows once the engine is closed.
   */
  public void drain() {
    drain(drainTimeout);
  }

  /** {@link #drain()} with {@code timeout} instead of {@code server.drain-timeout-seconds}. */
  public synchronized void drain(Duration timeout) {
    if (drained) {
      return;
    }
    drained = true;
    state.draining();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (state.inFlight() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    if (state.inFlight() > 0 && !timeout.isZero()) {
      LOG.warning(
          state.inFlight() + " requests still running after the drain timeout; aborting them");
    }
    if (batches != null) {
      // Before the engine closes: its aborts must not be taken for results.
      batches.close();
    }
  }

  /** Drains at once if not yet drained, then closes Vert.x; the engine stays with its owner. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    drain(Duration.ZERO);
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.warning("Vert.x did not close cleanly: " + e);
    }
  }
}
