package io.llavaserve.web.metrics;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;

/**
 * Tokens per second over a sliding window of whole seconds. Each slot counts the tokens of one
 * second; a slot is reused (and reset) when its second comes round again, so an idle server reads
 * zero without a background task.
 */
final class TokenRate {

  private static final long NANOS_PER_SECOND = 1_000_000_000L;

  private final int windowSeconds;
  private final LongSupplier nanoTime;
  // slot i counts tokens of the second stamped in stamps[i]; [windowSeconds + 1] so the current,
  // partly filled second does not evict the oldest full one
  private final AtomicLongArray counts;
  private final AtomicLongArray stamps;

  TokenRate(int windowSeconds, LongSupplier nanoTime) {
    if (windowSeconds < 1) {
      throw new IllegalArgumentException("windowSeconds must be >= 1, got " + windowSeconds);
    }
    this.windowSeconds = windowSeconds;
    this.nanoTime = nanoTime;
    this.counts = new AtomicLongArray(windowSeconds + 1);
    this.stamps = new AtomicLongArray(windowSeconds + 1);
    for (int i = 0; i < stamps.length(); i++) {
      stamps.set(i, Long.MIN_VALUE);
    }
  }

  void add(long tokens) {
    long second = Math.floorDiv(nanoTime.getAsLong(), NANOS_PER_SECOND);
    int slot = (int) Math.floorMod(second, (long) counts.length());
    long stamp = stamps.get(slot);
    if (stamp != second && stamps.compareAndSet(slot, stamp, second)) {
      // the first writer of a new second clears what the slot held a window ago; a racing add
      // that lands between the two calls is lost, which a rate gauge can afford
      counts.set(slot, 0);
    }
    counts.addAndGet(slot, tokens);
  }

  /** Tokens per second over the last {@code windowSeconds} complete seconds and the current one. */
  double perSecond() {
    long now = nanoTime.getAsLong();
    long second = Math.floorDiv(now, NANOS_PER_SECOND);
    long oldest = second - windowSeconds;
    long sum = 0;
    for (int i = 0; i < counts.length(); i++) {
      long stamp = stamps.get(i);
      if (stamp >= oldest && stamp <= second) {
        sum += counts.get(i);
      }
    }
    // the window spans windowSeconds full seconds plus the elapsed part of the current one
    double elapsed =
        windowSeconds + (double) Math.floorMod(now, NANOS_PER_SECOND) / NANOS_PER_SECOND;
    return sum / elapsed;
  }
}
