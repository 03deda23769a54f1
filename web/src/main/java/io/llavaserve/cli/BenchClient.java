package io.llavaserve.cli;

/**
 * One closed-loop client of the serving benchmarks: sends a request and blocks until its answer has
 * streamed in. Implemented over server-sent events, over a WebSocket, and by the engine in process,
 * so the three are timed by the same loop.
 *
 * @param <R> the request as this transport sends it, built before the clock starts
 */
interface BenchClient<R> extends AutoCloseable {

  BenchStats.Trace send(R request) throws Exception;

  @Override
  default void close() {}

  /** A JSON POST of {@code body} to {@code uri}, with a bearer key when one is given. */
  static java.net.http.HttpRequest.Builder post(
      java.net.URI uri, String body, String apiKey, java.time.Duration timeout) {
    java.net.http.HttpRequest.Builder request =
        java.net.http.HttpRequest.newBuilder(uri)
            .timeout(timeout)
            .header("Content-Type", "application/json")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body));
    if (apiKey != null) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    return request;
  }
}
