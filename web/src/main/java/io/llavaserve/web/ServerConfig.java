package io.llavaserve.web;

import io.llavaserve.web.openai.RequestLimits;
import java.util.List;

/**
 * How the HTTP front end listens and what it accepts; read once at start.
 *
 * @param host interface to bind
 * @param port TCP port; 0 picks a free one
 * @param apiKeys accepted bearer keys; empty = no authentication
 * @param maxBodyBytes largest request body; larger ones get 413
 * @param drainTimeoutSeconds how long a shutdown waits for running requests
 * @param limits per-request limits
 */
public record ServerConfig(
    String host,
    int port,
    List<String> apiKeys,
    long maxBodyBytes,
    int drainTimeoutSeconds,
    RequestLimits limits) {

  public ServerConfig {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("server.port must be in [0, 65535], got " + port);
    }
    if (maxBodyBytes < 1) {
      throw new IllegalArgumentException("server.max-body-bytes must be >= 1, got " + maxBodyBytes);
    }
    if (drainTimeoutSeconds < 0) {
      throw new IllegalArgumentException(
          "server.drain-timeout-seconds must be >= 0, got " + drainTimeoutSeconds);
    }
    apiKeys = apiKeys.stream().map(String::trim).filter(k -> !k.isEmpty()).toList();
  }
}
