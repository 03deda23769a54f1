package io.llavaserve.web;

import io.llavaserve.web.batchjobs.BatchConfig;
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
 * @param wsMaxRequestsPerSocket requests one WebSocket may run at once; more get a 429 frame
 * @param batch batch jobs and files ({@code /v1/files}, {@code /v1/batches}); null = off
 */
public record ServerConfig(
    String host,
    int port,
    List<String> apiKeys,
    long maxBodyBytes,
    int drainTimeoutSeconds,
    RequestLimits limits,
    int wsMaxRequestsPerSocket,
    BatchConfig batch) {

  /** The default of {@code server.ws-max-requests-per-socket}. */
  public static final int DEFAULT_WS_MAX_REQUESTS_PER_SOCKET = 64;

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
    if (wsMaxRequestsPerSocket < 1) {
      throw new IllegalArgumentException(
          "server.ws-max-requests-per-socket must be >= 1, got " + wsMaxRequestsPerSocket);
    }
    apiKeys = apiKeys.stream().map(String::trim).filter(k -> !k.isEmpty()).toList();
  }

  /** A configuration with batch jobs off. */
  public ServerConfig(
      String host,
      int port,
      List<String> apiKeys,
      long maxBodyBytes,
      int drainTimeoutSeconds,
      RequestLimits limits,
      int wsMaxRequestsPerSocket) {
    this(
        host,
        port,
        apiKeys,
        maxBodyBytes,
        drainTimeoutSeconds,
        limits,
        wsMaxRequestsPerSocket,
        null);
  }

  /** The same with batch jobs on, kept in {@code batch}'s data directory. */
  public ServerConfig withBatch(BatchConfig batch) {
    return new ServerConfig(
        host,
        port,
        apiKeys,
        maxBodyBytes,
        drainTimeoutSeconds,
        limits,
        wsMaxRequestsPerSocket,
        batch);
  }

  /** A configuration with the default WebSocket limit. */
  public ServerConfig(
      String host,
      int port,
      List<String> apiKeys,
      long maxBodyBytes,
      int drainTimeoutSeconds,
      RequestLimits limits) {
    this(
        host,
        port,
        apiKeys,
        maxBodyBytes,
        drainTimeoutSeconds,
        limits,
        DEFAULT_WS_MAX_REQUESTS_PER_SOCKET);
  }
}
