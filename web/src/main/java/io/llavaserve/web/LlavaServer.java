package io.llavaserve.web;

import io.llavaserve.web.batchjobs.BatchRunner;
import io.llavaserve.web.batchjobs.BatchStore;
import io.llavaserve.web.http.HealthHandler;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.media.MediaFetcher;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.ServedModel;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;

/**
 * The HTTP server. It binds first and answers while the model loads ({@code /health} 200, {@code
 * /ready} and every API route 503), then serves the API once {@link #serve} hands it the loaded
 * model. It closes in two halves around the engine, which it uses but does not own: {@link #drain}
 * stops accepting (readiness and new requests answer 503), lets running requests finish up to a
 * timeout and stops the batch jobs; the owner then closes the engine, whose last aborts still reach
 * their clients, and then {@link #close} closes Vert.x.
 */
public final class LlavaServer implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(LlavaServer.class.getName());

  private final Vertx vertx;
  private final ServerConfig config;
  private final ServerState state;
  private final int port;
  private final Duration drainTimeout;
  private final AtomicReference<Handler<HttpServerRequest>> routes;
  private volatile ServedModel served;
  private volatile BatchRunner batches;
  private boolean drained;
  private boolean closed;

  private LlavaServer(
      Vertx vertx,
      ServerConfig config,
      ServerState state,
      int port,
      AtomicReference<Handler<HttpServerRequest>> routes) {
    this.vertx = vertx;
    this.config = config;
    this.state = state;
    this.port = port;
    this.routes = routes;
    this.drainTimeout = Duration.ofSeconds(config.drainTimeoutSeconds());
  }

  /** Binds the port and answers as a server whose model is loading; blocks until bound. */
  public static LlavaServer bind(ServerConfig config) throws Exception {
    Vertx vertx = Vertx.vertx();
    ServerState state = new ServerState();
    Router loading = Router.router(vertx);
    HealthHandler health = new HealthHandler(state);
    loading.get("/health").handler(health::alive);
    loading.get("/ready").handler(health::ready);
    loading.route().handler(health::requireReady);
    AtomicReference<Handler<HttpServerRequest>> routes = new AtomicReference<>(loading);
    // A WebSocket message is a request body: the same cap applies to it.
    int maxMessage = (int) Math.min(Integer.MAX_VALUE, config.maxBodyBytes());
    HttpServer server =
        vertx.createHttpServer(
            new HttpServerOptions()
                .setMaxWebSocketFrameSize(maxMessage)
                .setMaxWebSocketMessageSize(maxMessage));
    try {
      server
          .requestHandler(request -> routes.get().handle(request))
          .listen(config.port(), config.host())
          .toCompletionStage()
          .toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      vertx.close();
      throw e;
    }
    return new LlavaServer(vertx, config, state, server.actualPort(), routes);
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

  /** Starts answering the API with the loaded model; readiness turns 200. */
  public synchronized void serve(ServedModel served, MediaConfig media) throws Exception {
    if (this.served != null) {
      throw new IllegalStateException("the server already serves " + this.served.id());
    }
    ImageUrlFetcher fetcher =
        media.fetchEnabled()
            ? ImageUrlFetcher.of(new MediaFetcher(vertx, media))
            : ImageUrlFetcher.disabled();
    ServerMetrics metrics = new ServerMetrics(served.engine()::stats, served.id());
    BatchStore batchStore =
        config.batch() != null ? BatchStore.open(config.batch().dataDir()) : null;
    ApiVerticle verticle = new ApiVerticle(config, served, state, fetcher, metrics, batchStore);
    vertx
        .deployVerticle(verticle, new DeploymentOptions())
        .toCompletionStage()
        .toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    this.served = served;
    routes.set(verticle.router());
    state.ready();
    batches = verticle.batchRunner();
    if (batches != null) {
      batches.resumeAll(); // jobs a stop or a crash interrupted go on
    }
  }

  public int port() {
    return port;
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
