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
}
