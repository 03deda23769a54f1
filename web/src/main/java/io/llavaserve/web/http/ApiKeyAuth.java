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
  private final KeyQuotas quotas;

  /**
   * @param quotas the per-key limits, shared by every front end, indexed like {@code keys}
   */
  public ApiKeyAuth(List<String> keys, KeyQuotas quotas) {
    this.keys = keys.stream().map(k -> k.getBytes(StandardCharsets.UTF_8)).toList();
    this.quotas = quotas;
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
    int key = indexOf(given);
    if (key < 0) {
      ErrorResponses.send(ctx.response(), ApiError.unauthorized("invalid API key"));
      return;
    }
    Runnable release;
    try {
      release = quotas.admit(key);
    } catch (ApiError e) {
      ErrorResponses.send(ctx.response(), e);
      return;
    }
    ctx.addEndHandler(v -> release.run());
    ctx.next();
  }

  /**
   * The index of the configured key equal to {@code key}, or -1; every key compared, in constant
   * time.
   */
  private int indexOf(String key) {
    byte[] given = key.getBytes(StandardCharsets.UTF_8);
    int found = -1;
    for (int i = 0; i < keys.size(); i++) {
      if (MessageDigest.isEqual(keys.get(i), given)) {
        found = i;
      }
    }
    return found;
  }

  private static boolean isWebSocketUpgrade(RoutingContext ctx) {
    return "websocket".equalsIgnoreCase(ctx.request().getHeader("Upgrade"));
  }
}
