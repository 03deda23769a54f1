package io.llavaserve.web.http;

import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.function.LongSupplier;

/**
 * {@code /health}: the process answers and its engine is not stuck. {@code /ready}: the model is
 * loaded, the server is not draining and the engine is not stuck. The engine is stuck when one
 * model step has run longer than {@code server.engine-stall-seconds} (or its thread has died): both
 * answer 503 then, so that an orchestrator can restart or route around it.
 */
public final class HealthHandler {

  private final ServerState state;
  private final LongSupplier stepRunningNanos;
  private final long stallNanos;

  /** Before the engine exists: the phase only. */
  public HealthHandler(ServerState state) {
    this(state, () -> 0, 0);
  }

  /**
   * @param stepRunningNanos how long the engine's current step has run (0 between steps)
   * @param stallSeconds a step running longer is a stall; 0 never
   */
  public HealthHandler(ServerState state, LongSupplier stepRunningNanos, int stallSeconds) {
    this.state = state;
    this.stepRunningNanos = stepRunningNanos;
    this.stallNanos = stallSeconds * 1_000_000_000L;
  }

  /** The stall's description, or null when the engine is not stuck. */
  private String stall() {
    if (stallNanos <= 0) {
      return null;
    }
    long running = stepRunningNanos.getAsLong();
    if (running == Long.MAX_VALUE) {
      return "the engine thread has stopped";
    }
    if (running <= stallNanos) {
      return null;
    }
    return "one engine step has run "
        + running / 1_000_000_000L
        + " s, longer than server.engine-stall-seconds="
        + stallNanos / 1_000_000_000L;
  }

  public void alive(RoutingContext ctx) {
    String stall = stall();
    JsonObject body = new JsonObject().put("status", stall == null ? "ok" : "stalled");
    if (stall != null) {
      body.put("message", stall);
    }
    ctx.response()
        .setStatusCode(stall == null ? 200 : 503)
        .putHeader("Content-Type", "application/json")
        .end(body.encode());
  }

  public void ready(RoutingContext ctx) {
    ServerState.Phase phase = state.phase();
    String stall = phase == ServerState.Phase.READY ? stall() : null;
    JsonObject body =
        new JsonObject().put("status", stall != null ? "stalled" : phase.name().toLowerCase());
    if (stall != null) {
      body.put("message", stall);
    }
    ctx.response()
        .setStatusCode(phase == ServerState.Phase.READY && stall == null ? 200 : 503)
        .putHeader("Content-Type", "application/json")
        .end(body.encode());
  }

  /** Lets {@code /v1} requests through only when ready: 503 while loading or draining. */
  public void requireReady(RoutingContext ctx) {
    switch (state.phase()) {
      case READY -> ctx.next();
      case LOADING ->
          ErrorResponses.send(ctx.response(), ApiError.unavailable("the model is still loading"));
      case DRAINING ->
          ErrorResponses.send(ctx.response(), ApiError.unavailable("the server is shutting down"));
    }
  }
}
