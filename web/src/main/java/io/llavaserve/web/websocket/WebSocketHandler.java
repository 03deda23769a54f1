package io.llavaserve.web.websocket;

import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.ext.web.RoutingContext;
import java.util.logging.Logger;

/**
 * {@code GET /v1/ws}: upgrades to a WebSocket on which a client runs chat requests, many at once,
 * each tagged with its own id. Authentication and readiness are checked by the routes before this
 * one, on the upgrade request.
 */
public final class WebSocketHandler implements Handler<RoutingContext> {

  private static final Logger LOG = Logger.getLogger(WebSocketHandler.class.getName());

  private final RequestLifecycle lifecycle;
  private final ServerState state;
  private final int maxRequestsPerSocket;

  /**
   * @param maxRequestsPerSocket requests one socket may run at once
   */
  public WebSocketHandler(RequestLifecycle lifecycle, ServerState state, int maxRequestsPerSocket) {
    this.lifecycle = lifecycle;
    this.state = state;
    this.maxRequestsPerSocket = maxRequestsPerSocket;
  }

  @Override
  public void handle(RoutingContext ctx) {
    if (!"websocket".equalsIgnoreCase(ctx.request().getHeader("Upgrade"))) {
      ErrorResponses.send(
          ctx.response(),
          ApiError.badRequest(null, "/v1/ws expects a WebSocket upgrade (Upgrade: websocket)"));
      return;
    }
    ctx.request()
        .toWebSocket()
        .onSuccess(
            socket ->
                new SocketSession(
                        socket, Vertx.currentContext(), lifecycle, state, maxRequestsPerSocket)
                    .start())
        .onFailure(e -> LOG.fine("WebSocket upgrade failed: " + e));
  }
}
