package io.llavaserve.cli;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.web.LlavaServer;
import io.llavaserve.web.ServerConfig;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.ServedModel;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The composition root of a serving process: it builds model -> engine -> server from their records
 * ({@link ServingConfig}), owns all three, and closes them in reverse. The server closes in two
 * halves around the engine: it stops taking work (and for a graceful stop lets running requests
 * finish), the engine stops (its own thread aborts what still runs, and those aborts still reach
 * their clients), then the server's transport closes, and the model's native memory goes last.
 *
 * <p>The server may bind before the model loads, so that {@code /health} answers meanwhile; a stack
 * without a server runs the engine in process (benchmarks). Build it inside try-with-resources: a
 * step that fails leaves what was built for {@link #close} to close.
 */
public final class ServingStack implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(ServingStack.class.getName());

  private final LlavaServer server; // null: no HTTP
  private LlavaModel model;
  private LlavaEngine engine;
  private boolean closed;

  private ServingStack(LlavaServer server) {
    this.server = server;
  }

  /** A stack whose server is bound: alive, and answering 503 to the API until {@link #serve}. */
  public static ServingStack bind(ServerConfig config) throws Exception {
    return new ServingStack(LlavaServer.bind(config));
  }

  /** A stack without HTTP: the model and the engine in process. */
  public static ServingStack inProcess() {
    return new ServingStack(null);
  }

  /** Loads the checkpoint in {@code dir}. */
  public synchronized ServingStack load(Path dir, ModelOptions options)
      throws IOException, CheckpointException {
    if (model != null) {
      throw new IllegalStateException("the stack already holds a model");
    }
    model = LlavaModel.load(dir, options);
    return this;
  }

  /** Starts the engine over the loaded model. */
  public synchronized ServingStack startEngine(EngineConfig config) {
    if (model == null || engine != null) {
      throw new IllegalStateException("an engine starts once, after the model loads");
    }
    engine = LlavaEngine.start(model, config);
    return this;
  }

  /** Serves the engine's model as {@code id}: readiness turns 200. */
  public synchronized ServingStack serve(String id, MediaConfig media) throws Exception {
    if (server == null || engine == null) {
      throw new IllegalStateException("serving needs a bound server and a running engine");
    }
    server.serve(new ServedModel(id, model, engine), media);
    return this;
  }

  /** Serves as a cluster gateway: no model, requests go to the cluster's engines. */
  public synchronized ServingStack serveGateway() throws Exception {
    if (server == null || model != null) {
      throw new IllegalStateException("a gateway is a bound server without a model");
    }
    server.serveGateway();
    return this;
  }

  /** The server; null in a stack without HTTP. */
  public LlavaServer server() {
    return server;
  }

  /** The model; null until loaded. */
  public LlavaModel model() {
    return model;
  }

  /** The engine; null until started. */
  public LlavaEngine engine() {
    return engine;
  }

  /**
   * A graceful stop (SIGTERM): no new work, running requests finish up to {@code
   * server.drain-timeout-seconds}, then {@link #close}.
   */
  public void drain() {
    if (server != null) {
      server.drain();
    }
    close();
  }

  /** Closes server intake, engine, server transport and model, in that order; once. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (server != null) {
      step("stopping the server's intake", () -> server.drain(Duration.ZERO));
    }
    if (engine != null) {
      step("closing the engine", engine::close);
    }
    if (server != null) {
      step("closing the server", server::close);
    }
    if (model != null) {
      step("closing the model", model::close);
    }
  }

  /** One close; a failure is logged and the rest still close. */
  private static void step(String what, Runnable close) {
    try {
      close.run();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, what + " failed", e);
    }
  }
}
