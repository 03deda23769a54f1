package io.llavaserve.web;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where the server is in its life (loading, ready, draining) and how many requests are in flight,
 * read by the readiness probe, the availability check of {@code /v1} routes and the drain.
 */
public final class ServerState {

  /** The server's life. */
  public enum Phase {
    LOADING,
    READY,
    DRAINING
  }

  private volatile Phase phase = Phase.LOADING;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger connections = new AtomicInteger();

  public Phase phase() {
    return phase;
  }

  void ready() {
    phase = Phase.READY;
  }

  void draining() {
    phase = Phase.DRAINING;
  }

  /** Open HTTP and WebSocket connections across every front end. */
  public int connections() {
    return connections.get();
  }

  /** Counts a connection in; returns how many are open with it. */
  int connectionOpened() {
    return connections.incrementAndGet();
  }

  void connectionClosed() {
    connections.decrementAndGet();
  }

  /** Requests submitted to the engine and not yet finished or aborted. */
  public int inFlight() {
    return inFlight.get();
  }

  /** Counts a request in; the returned action counts it out (running it twice is harmless). */
  public Runnable enter() {
    inFlight.incrementAndGet();
    boolean[] left = new boolean[1];
    return () -> {
      synchronized (left) {
        if (!left[0]) {
          left[0] = true;
          inFlight.decrementAndGet();
        }
      }
    };
  }
}
