package io.llavaserve.web.http;

import io.llavaserve.web.errors.ApiError;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Per-API-key limits shared by every front end: requests running at once, and requests started per
 * minute (a token bucket holding a minute's worth, refilled continuously). A key is known here only
 * by its index in the configured list, so nothing of it reaches a log.
 */
public final class KeyQuotas {

  private final int maxConcurrent;
  private final int perMinute;
  private final AtomicInteger[] running;
  private final Bucket[] buckets;

  /**
   * @param keys configured keys
   * @param maxConcurrent requests one key may run at once; 0 no limit
   * @param perMinute requests one key may start per minute; 0 no limit
   */
  public KeyQuotas(int keys, int maxConcurrent, int perMinute) {
    this.maxConcurrent = maxConcurrent;
    this.perMinute = perMinute;
    running = new AtomicInteger[keys];
    buckets = new Bucket[keys];
    for (int i = 0; i < keys; i++) {
      running[i] = new AtomicInteger();
      buckets[i] = new Bucket(perMinute);
    }
  }

  /**
   * Admits one request of key {@code key}: the returned action releases it (call once, when the
   * request ends).
   *
   * @throws ApiError 429 with Retry-After when the key is over either limit
   */
  public Runnable admit(int key) {
    if (perMinute > 0) {
      long waitMillis = buckets[key].take(System.nanoTime());
      if (waitMillis > 0) {
        throw ApiError.overloaded(
            "this API key is over its "
                + perMinute
                + " requests per minute (server.api-key-requests-per-minute)",
            (int) Math.max(1, (waitMillis + 999) / 1000));
      }
    }
    AtomicInteger n = running[key];
    if (maxConcurrent > 0 && n.incrementAndGet() > maxConcurrent) {
      n.decrementAndGet();
      throw ApiError.overloaded(
          "this API key has "
              + maxConcurrent
              + " requests running, its limit (server.api-key-max-concurrent)",
          1);
    } else if (maxConcurrent <= 0) {
      return () -> {};
    }
    AtomicInteger once = new AtomicInteger();
    return () -> {
      if (once.getAndIncrement() == 0) {
        n.decrementAndGet();
      }
    };
  }

  /** Requests of key {@code key} running now (counted only with a concurrency limit). */
  int running(int key) {
    return running[key].get();
  }

  /** A token bucket of {@code perMinute} tokens, refilled at {@code perMinute} a minute. */
  private static final class Bucket {
    private final double capacity;
    private final double perNano;
    private double tokens;
    private long last = System.nanoTime();

    Bucket(int perMinute) {
      capacity = perMinute;
      perNano = perMinute / 60e9;
      tokens = perMinute;
    }

    /** Takes a token: 0, or the milliseconds until one is there (none taken). */
    synchronized long take(long now) {
      tokens = Math.min(capacity, tokens + (now - last) * perNano);
      last = now;
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return (long) Math.ceil((1 - tokens) / perNano / 1e6);
    }
  }
}
