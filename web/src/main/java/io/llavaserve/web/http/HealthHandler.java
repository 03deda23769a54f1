package io.llavaserve.web.http;

import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** {@code /health}: the process answers. {@code /ready}: the model is loaded and not draining. */
public final class HealthHandler {

  private final ServerState state;

  public HealthHandler(ServerState state) {
    this.state = state;
  }

  public void alive(RoutingContext ctx) {
    ctx.response()
        .putHeader("Content-Type", "application/json")
        .end(new JsonObject().put("status", "ok").encode());
  }

  public void ready(RoutingContext ctx) {
    ServerState.Phase phase = state.phase();
    ctx.response()
        .setStatusCode(phase == ServerState.Phase.READY ? 200 : 503)
        .putHeader("Content-Type", "application/json")
        .end(new JsonObject().put("status", phase.name().toLowerCase()).encode());
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
