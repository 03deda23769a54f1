package io.llavaserve.web.metrics;

import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The timeline of one request, from acceptance to finish, feeding the latency histograms. Events
 * usually come from the engine thread, a finish may come from the event loop (client gone), so each
 * method is synchronized; they are uncontended and cheap. Events after {@link #finished} are
 * ignored, and a second {@code finished} is too.
 */
public final class RequestTimer {

  private final ServerMetrics metrics;
  private final LongSupplier nanoTime;
  private final long start;
  private long queued = -1;
  private long scheduled = -1;
  private long lastToken = -1;
  private boolean done;

  RequestTimer(ServerMetrics metrics, LongSupplier nanoTime) {
    this.metrics = metrics;
    this.nanoTime = nanoTime;
    this.start = nanoTime.getAsLong();
  }

  /** The request was handed to the engine (optional; queue time is measured from here). */
  public synchronized void queued() {
    if (!done && queued < 0) {
      queued = nanoTime.getAsLong();
    }
  }

  /**
   * The scheduler admitted the request (optional). Without this event the queue time is taken up to
   * the first token, so it then includes the prefill.
   */
  public synchronized void scheduled() {
    if (!done && scheduled < 0) {
      scheduled = nanoTime.getAsLong();
      record(metrics.queueTime, scheduled - (queued < 0 ? start : queued));
    }
  }

  /** The first token was sampled: records time to first token from the request's start. */
  public synchronized void firstToken() {
    if (done || lastToken >= 0) {
      token();
      return;
    }
    lastToken = nanoTime.getAsLong();
    record(metrics.timeToFirstToken, lastToken - start);
    if (scheduled < 0) {
      record(metrics.queueTime, lastToken - (queued < 0 ? start : queued));
    }
    metrics.tokensGenerated(1);
  }

  /** A later token was sampled: records the inter-token latency. */
  public synchronized void token() {
    if (done) {
      return;
    }
    if (lastToken < 0) {
      firstToken();
      return;
    }
    long now = nanoTime.getAsLong();
    record(metrics.timePerOutputToken, now - lastToken);
    lastToken = now;
    metrics.tokensGenerated(1);
  }

  /**
   * The request ended, for any reason; records end-to-end latency and token counts.
   *
   * @param finishReason {@code stop}, {@code length}, {@code abort} or {@code error}
   */
  public synchronized void finished(
      String finishReason, int promptTokens, int completionTokens, int cachedPromptTokens) {
    if (done) {
      return;
    }
    done = true;
    record(metrics.e2eLatency, nanoTime.getAsLong() - start);
    metrics.finished(finishReason);
    metrics.promptTokens.increment(promptTokens);
    metrics.generationTokens.increment(completionTokens);
    metrics.cachedPromptTokens.increment(cachedPromptTokens);
    metrics.promptTokensPerRequest.record(promptTokens);
    metrics.generationTokensPerRequest.record(completionTokens);
  }

  private static void record(Timer timer, long nanos) {
    timer.record(Math.max(0, nanos), TimeUnit.NANOSECONDS);
  }
}
