package io.llavaserve.web;

/**
 * Limits on connections and on how requests arrive, each a {@code server.*} key: they bound what
 * one client can hold of the server before any request reaches the API.
 *
 * @param maxConnections open connections across every front end ({@code server.max-connections}); a
 *     request on a connection beyond it is answered 503 and the connection closed
 * @param maxHeaderBytes all header lines of one request ({@code server.max-header-bytes}); 431
 *     above it
 * @param maxRequestLineBytes the request line, {@code POST /v1/... HTTP/1.1} ({@code
 *     server.max-request-line-bytes}); 414 above it
 * @param idleTimeoutSeconds a connection that neither sends nor receives a byte for this long is
 *     closed ({@code server.idle-timeout-seconds}); 0 never
 * @param requestTimeoutSeconds a request's headers and body must have arrived this long after the
 *     connection opened (its first request) or after the request line (later ones), else the
 *     connection is closed: a client that trickles bytes (slowloris) cannot hold it ({@code
 *     server.request-timeout-seconds}); 0 never. Streaming the answer back is not bounded by it.
 * @param keyMaxConcurrent with API keys configured, requests one key may have running at once (an
 *     HTTP request until its answer ends, a WebSocket until it closes); 429 beyond ({@code
 *     server.api-key-max-concurrent}); 0 no limit
 * @param keyRequestsPerMinute with API keys configured, requests one key may start per minute, a
 *     token bucket that holds a minute's worth; 429 with Retry-After beyond ({@code
 *     server.api-key-requests-per-minute}); 0 no limit
 */
public record HttpLimits(
    int maxConnections,
    int maxHeaderBytes,
    int maxRequestLineBytes,
    int idleTimeoutSeconds,
    int requestTimeoutSeconds,
    int keyMaxConcurrent,
    int keyRequestsPerMinute) {

  public HttpLimits {
    positive("server.max-connections", maxConnections);
    positive("server.max-header-bytes", maxHeaderBytes);
    positive("server.max-request-line-bytes", maxRequestLineBytes);
    if (idleTimeoutSeconds < 0) {
      throw new IllegalArgumentException(
          "server.idle-timeout-seconds must be >= 0, got " + idleTimeoutSeconds);
    }
    if (requestTimeoutSeconds < 0) {
      throw new IllegalArgumentException(
          "server.request-timeout-seconds must be >= 0, got " + requestTimeoutSeconds);
    }
    if (keyMaxConcurrent < 0) {
      throw new IllegalArgumentException(
          "server.api-key-max-concurrent must be >= 0, got " + keyMaxConcurrent);
    }
    if (keyRequestsPerMinute < 0) {
      throw new IllegalArgumentException(
          "server.api-key-requests-per-minute must be >= 0, got " + keyRequestsPerMinute);
    }
  }

  /** The defaults of {@code conf/llava-serve.properties}. */
  public static HttpLimits defaults() {
    return new HttpLimits(4096, 8192, 4096, 300, 60, 0, 0);
  }

  private static void positive(String key, int v) {
    if (v < 1) {
      throw new IllegalArgumentException(key + " must be >= 1, got " + v);
    }
  }
}
