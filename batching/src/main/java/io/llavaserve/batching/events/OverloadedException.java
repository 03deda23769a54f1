package io.llavaserve.batching.events;

/**
 * The waiting queue is full (by requests or by prompt tokens): the request was not accepted. The
 * web layer answers 429 with {@code Retry-After}.
 */
public final class OverloadedException extends RuntimeException {

  private final int retryAfterSeconds;

  public OverloadedException(String message, int retryAfterSeconds) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** A hint for the client, in seconds. */
  public int retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
