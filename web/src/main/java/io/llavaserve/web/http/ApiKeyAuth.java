package io.llavaserve.web.http;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;

/**
 * Requires {@code Authorization: Bearer <key>} with one of the configured keys; with no keys
 * configured every request passes. A WebSocket upgrade may instead carry the key as {@code
 * ?api_key=}, since browsers cannot set headers on one. Keys are compared in constant time, all of
 * them every time.
 */
public final class ApiKeyAuth implements Handler<RoutingContext> {

  private static final String BEARER = "Bearer ";

  private final List<byte[]> keys;

  public ApiKeyAuth(List<String> keys) {
    this.keys = keys.stream().map(k -> k.getBytes(StandardCharsets.UTF_8)).toList();
  }

  @Override
  public void handle(RoutingContext ctx) {
    if (keys.isEmpty()) {
      ctx.next();
      return;
    }
    String header = ctx.request().getHeader("Authorization");
    String given;
    if (header != null && header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      given = header.substring(BEARER.length()).trim();
    } else if (isWebSocketUpgrade(ctx) && ctx.request().getParam("api_key") != null) {
      given = ctx.request().getParam("api_key");
    } else {
      ErrorResponses.send(
          ctx.response(),
          ApiError.unauthorized("missing API key: send the header Authorization: Bearer <key>"));
      return;
    }
    if (accepts(given)) {
      ctx.next();
    } else {
      ErrorResponses.send(ctx.response(), ApiError.unauthorized("invalid API key"));
    }
  }

  private boolean accepts(String key) {
    byte[] given = key.getBytes(StandardCharsets.UTF_8);
    boolean ok = false;
    for (byte[] k : keys) {
      ok |= MessageDigest.isEqual(k, given);
    }
    return ok;
  }

  private static boolean isWebSocketUpgrade(RoutingContext ctx) {
    return "websocket".equalsIgnoreCase(ctx.request().getHeader("Upgrade"));
  }
}
