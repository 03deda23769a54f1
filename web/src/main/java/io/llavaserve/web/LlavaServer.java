package io.llavaserve.web;

import io.llavaserve.web.batchjobs.BatchRunner;
import io.llavaserve.web.batchjobs.BatchStore;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.media.MediaFetcher;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.ServedModel;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * A running HTTP server over a started engine. {@link #drain} stops accepting (readiness and new
 * requests answer 503), lets running requests finish up to a timeout, then closes the engine and
 * Vert.x.
 */
public final class LlavaServer implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(LlavaServer.class.getName());

  private final Vertx vertx;
  private final ServedModel served;
  private final ServerState state;
  private final int port;
  private final Duration drainTimeout;
  private final BatchRunner batches;
  private boolean closed;

  private LlavaServer(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      int port,
      Duration drain,
      BatchRunner batches) {
    this.vertx = vertx;
    this.batches = batches;
    this.served = served;
    this.state = state;
    this.port = port;
    this.drainTimeout = drain;
  }

  /** Binds and starts answering; blocks until the port is bound. */
  public static LlavaServer start(ServerConfig config, ServedModel served, MediaConfig media)
      throws Exception {
    Vertx vertx = Vertx.vertx();
    ServerState state = new ServerState();
    ImageUrlFetcher fetcher =
        media.fetchEnabled() ? ImageUrlFetcher.of(new MediaFetcher(vertx, media)) : ImageUrlFetcher.disabled();
    ServerMetrics metrics = new ServerMetrics(served.engine()::stats, served.id());
    BatchStore batchStore = null;
    if (config.batch() != null) {
      try {
        batchStore = BatchStore.open(config.batch().dataDir());
      } catch (Exception e) {
        vertx.close();
        throw e;
      }
    }
    ApiVerticle verticle = new ApiVerticle(config, served, state, fetcher, metrics, batchStore);
    try {
      vertx
          .deployVerticle(verticle, new DeploymentOptions())
          .toCompletionStage()
          .toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      vertx.close();
      throw e;
    }
    state.ready();
    BatchRunner batches = verticle.batchRunner();
    if (batches != null) {
      batches.resumeAll();
    }
    return new LlavaServer(
        vertx,
        served,
        state,
        verticle.actualPort(),
        Duration.ofSeconds(config.drainTimeoutSeconds()),
        batches);
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

  /** Stops accepting, waits for running requests up to the drain timeout, then closes. */
  public synchronized void drain() {
    if (closed) {
      return;
    }
    state.draining();
    long deadline = System.nanoTime() + drainTimeout.toNanos();
    while (state.inFlight() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    if (state.inFlight() > 0) {
      LOG.warning(state.inFlight() + " requests still running after the drain timeout; aborting them");
    }
    close();
  }

  /** Closes the engine (aborting what still runs) and Vert.x; the model stays with its owner. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    state.draining();
    if (batches != null) {
      // Before the engine: its aborts must not be taken for results; the jobs resume on start.
      batches.close();
    }
    served.engine().close();
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.warning("Vert.x did not close cleanly: " + e);
    }
  }
}
