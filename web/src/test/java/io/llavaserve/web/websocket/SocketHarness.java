package io.llavaserve.web.websocket;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.TestServer;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.RequestLimits;
import io.llavaserve.web.openai.ServedModel;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.ServerWebSocket;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A {@link SocketSession} driven without a network: a real request lifecycle over the tiny model's
 * engine, and in place of the socket a fake that records what the session writes, lets a test fill
 * and drain its write queue, and holds back frames while the session has paused it, as Vert.x does.
 * Everything the session does runs on one Vert.x context, as it would; an exception that escapes a
 * handler there is recorded.
 */
final class SocketHarness implements AutoCloseable {

  static final int MAX_REQUESTS = 4;

  final LlavaModel model;
  final LlavaEngine engine;
  final Vertx vertx;
  final ServerState state;
  final RequestLifecycle lifecycle;
  private final List<Throwable> escaped = Collections.synchronizedList(new ArrayList<>());

  SocketHarness() throws Exception {
    Path dir = Files.createTempDirectory("socket-harness");
    model =
        LlavaModel.load(
            TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny()),
            ModelOptions.defaults().withKvCacheBytes(32L << 20));
    engine = LlavaEngine.start(model, EngineConfig.defaults());
    vertx = Vertx.vertx();
    vertx.exceptionHandler(escaped::add);
    state = TestServer.readyState();
    lifecycle =
        new RequestLifecycle(
            vertx,
            new ServedModel("tiny", model, engine),
            state,
            new RequestLimits(2, 16, 512, 2),
            ImageUrlFetcher.disabled(),
            new ServerMetrics(engine::stats, "tiny"));
  }

  /** A new session on a new context, started. */
  Session open() throws Exception {
    Context context = vertx.getOrCreateContext();
    Session s = new Session(context);
    s.call(
        () -> {
          s.session = new SocketSession(s.socket, context, lifecycle, state, MAX_REQUESTS);
          s.session.start();
          return null;
        });
    return s;
  }

  /** Exceptions that escaped to the contexts since the last call. */
  List<Throwable> escaped() {
    synchronized (escaped) {
      List<Throwable> all = List.copyOf(escaped);
      escaped.clear();
      return all;
    }
  }

  /**
   * Waits until the engine runs and holds nothing and no request is in flight.
   *
   * @throws AssertionError naming what is still held after 10 s
   */
  EngineStats awaitIdle() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      EngineStats st = engine.stats();
      if (st.running() == 0
          && st.waiting() == 0
          && st.kvBlocksUsed() == 0
          && state.inFlight() == 0) {
        return st;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "after the socket closed the engine still holds "
                + st
                + ", in flight "
                + state.inFlight());
      }
      Thread.sleep(2);
    }
  }

  @Override
  public void close() {
    engine.close();
    vertx.close();
    model.close();
  }

  /** One socket and its session; every method but {@link #call} runs on the session's context. */
  static final class Session {

    final Context context;
    final ServerWebSocket socket;
    SocketSession session;
    final List<String> written = new ArrayList<>();
    final Deque<Object> held = new ArrayDeque<>(); // frames sent while the session paused reading
    int writtenWhileFull; // since the queue last filled
    boolean full;
    boolean paused;
    boolean closed;
    private Handler<String> text;
    private Handler<Buffer> binary;
    private Handler<Void> drain;
    private Handler<Void> closeHandler;

    private Session(Context context) {
      this.context = context;
      this.socket =
          (ServerWebSocket)
              Proxy.newProxyInstance(
                  ServerWebSocket.class.getClassLoader(),
                  new Class<?>[] {ServerWebSocket.class},
                  (proxy, method, args) -> answer(proxy, method, args));
    }

    /** Runs {@code task} on the session's context and waits for it, up to 10 s. */
    <T> T call(Callable<T> task) throws Exception {
      CompletableFuture<T> done = new CompletableFuture<>();
      context.runOnContext(
          v -> {
            try {
              done.complete(task.call());
            } catch (Throwable t) {
              done.completeExceptionally(t);
            }
          });
      try {
        return done.get(10, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        throw new AssertionError("escaped the session: " + e.getCause(), e.getCause());
      }
    }

    /** A text frame from the client, or a binary one ({@link Buffer}), held while paused. */
    void receive(Object frame) {
      if (paused) {
        held.add(frame);
      } else {
        deliver(frame);
      }
    }

    private void deliver(Object frame) {
      if (frame instanceof Buffer b) {
        binary.handle(b);
      } else {
        text.handle((String) frame);
      }
    }

    void fill() {
      full = true;
      writtenWhileFull = 0;
    }

    /** The queue drains: the session hears of it, and frames held back arrive while it reads. */
    void drain() {
      if (!full) {
        return;
      }
      full = false;
      drain.handle(null);
      while (!paused && !held.isEmpty()) {
        deliver(held.poll());
      }
    }

    /** The client goes away. */
    void close() {
      if (!closed) {
        closed = true;
        closeHandler.handle(null);
      }
    }

    @SuppressWarnings("unchecked")
    private Object answer(Object proxy, Method method, Object[] args) {
      switch (method.getName()) {
        case "textMessageHandler" -> text = (Handler<String>) args[0];
        case "binaryMessageHandler" -> binary = (Handler<Buffer>) args[0];
        case "drainHandler" -> drain = (Handler<Void>) args[0];
        case "closeHandler" -> closeHandler = (Handler<Void>) args[0];
        case "exceptionHandler" -> {}
        case "pause" -> paused = true;
        case "resume" -> paused = false;
        case "writeQueueFull" -> {
          return full;
        }
        case "isClosed" -> {
          return closed;
        }
        case "writeTextMessage" -> {
          if (closed) {
            throw new AssertionError("a frame written after the socket closed: " + args[0]);
          }
          written.add((String) args[0]);
          if (full) {
            writtenWhileFull++;
          }
          return Future.succeededFuture();
        }
        case "close" -> {
          // The server closes the socket (a frame too large, a failure): Vert.x then reports it.
          context.runOnContext(v -> close());
          return Future.succeededFuture();
        }
        case "hashCode" -> {
          return System.identityHashCode(proxy);
        }
        case "equals" -> {
          return proxy == args[0];
        }
        case "toString" -> {
          return "fake socket";
        }
        default ->
            throw new UnsupportedOperationException(
                "the fake socket has no " + method.getName() + "; teach it");
      }
      return method.getReturnType().isInstance(proxy) ? proxy : null;
    }
  }
}
