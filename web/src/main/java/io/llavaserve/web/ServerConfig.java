package io.llavaserve.web;

import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.cluster.ClusterConfig;
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
 * @param instances HTTP front ends (verticles), one per event loop; 0 = Vert.x's event-loop count
 * @param batch batch jobs and files ({@code /v1/files}, {@code /v1/batches}); null = off
 * @param cluster whether and how this node joins a cluster ({@code cluster.*})
 */
public record ServerConfig(
    String host,
    int port,
    List<String> apiKeys,
    long maxBodyBytes,
    int drainTimeoutSeconds,
    RequestLimits limits,
    int wsMaxRequestsPerSocket,
    int instances,
    BatchConfig batch,
    HttpLimits http,
    List<String> corsAllowedOrigins,
    int engineStallSeconds,
    ClusterConfig cluster) {

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
    if (engineStallSeconds < 0) {
      throw new IllegalArgumentException(
          "server.engine-stall-seconds must be >= 0, got " + engineStallSeconds);
    }
    if (instances < 0) {
      throw new IllegalArgumentException("server.instances must be >= 0, got " + instances);
    }
    http = http == null ? HttpLimits.defaults() : http;
    cluster = cluster == null ? ClusterConfig.off() : cluster;
    corsAllowedOrigins =
        corsAllowedOrigins == null
            ? List.of()
            : corsAllowedOrigins.stream().map(String::trim).filter(o -> !o.isEmpty()).toList();
    apiKeys = apiKeys.stream().map(String::trim).filter(k -> !k.isEmpty()).toList();
  }

  /** A builder starting from the defaults of {@code conf/llava-serve.properties}. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from this configuration. */
  public Builder toBuilder() {
    return new Builder()
        .host(host)
        .port(port)
        .apiKeys(apiKeys)
        .maxBodyBytes(maxBodyBytes)
        .drainTimeoutSeconds(drainTimeoutSeconds)
        .limits(limits)
        .wsMaxRequestsPerSocket(wsMaxRequestsPerSocket)
        .instances(instances)
        .batch(batch)
        .http(http)
        .corsAllowedOrigins(corsAllowedOrigins)
        .engineStallSeconds(engineStallSeconds)
        .cluster(cluster);
  }

  /** A configuration field by field, each starting at its documented default. */
  public static final class Builder {
    private String host = "0.0.0.0";
    private int port = 8000;
    private List<String> apiKeys = List.of();
    private long maxBodyBytes = 32L << 20;
    private int drainTimeoutSeconds = 30;
    private RequestLimits limits = new RequestLimits(8, 4096, 8192);
    private int wsMaxRequestsPerSocket = DEFAULT_WS_MAX_REQUESTS_PER_SOCKET;
    private int instances;
    private BatchConfig batch;
    private HttpLimits http = HttpLimits.defaults();
    private List<String> corsAllowedOrigins = List.of();
    private int engineStallSeconds = 120;
    private ClusterConfig cluster = ClusterConfig.off();

    private Builder() {}

    public Builder host(String v) {
      host = v;
      return this;
    }

    public Builder port(int v) {
      port = v;
      return this;
    }

    public Builder apiKeys(List<String> v) {
      apiKeys = v;
      return this;
    }

    public Builder maxBodyBytes(long v) {
      maxBodyBytes = v;
      return this;
    }

    public Builder drainTimeoutSeconds(int v) {
      drainTimeoutSeconds = v;
      return this;
    }

    public Builder limits(RequestLimits v) {
      limits = v;
      return this;
    }

    public Builder wsMaxRequestsPerSocket(int v) {
      wsMaxRequestsPerSocket = v;
      return this;
    }

    /** HTTP front ends, one per event loop; 0 = Vert.x's event-loop count (2 x cores). */
    public Builder instances(int v) {
      instances = v;
      return this;
    }

    /** Batch jobs and files on, kept in {@code v}'s data directory; null = off. */
    public Builder batch(BatchConfig v) {
      batch = v;
      return this;
    }

    /** Connection, header, request-line and timeout limits. */
    public Builder http(HttpLimits v) {
      http = v;
      return this;
    }

    /** Origins a browser page may call the API from; empty = CORS off, "*" = any origin. */
    public Builder corsAllowedOrigins(List<String> v) {
      corsAllowedOrigins = v;
      return this;
    }

    /** A model step running longer than this makes /health and /ready answer 503; 0 = never. */
    public Builder engineStallSeconds(int v) {
      engineStallSeconds = v;
      return this;
    }

    /** The cluster this node joins (default: none, a single node). */
    public Builder cluster(ClusterConfig v) {
      cluster = v;
      return this;
    }

    public ServerConfig build() {
      return new ServerConfig(
          host,
          port,
          apiKeys,
          maxBodyBytes,
          drainTimeoutSeconds,
          limits,
          wsMaxRequestsPerSocket,
          instances,
          batch,
          http,
          corsAllowedOrigins,
          engineStallSeconds,
          cluster);
    }
  }
}
