package io.llavaserve.web.errors;

import java.util.concurrent.ThreadLocalRandom;

/** Request ids: random enough to tell requests apart in logs and in {@code id} fields. */
public final class RequestIds {

  private RequestIds() {}

  public static String next() {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    return Long.toHexString(r.nextLong() | Long.MIN_VALUE)
        + Integer.toHexString(r.nextInt() | 1 << 31);
  }
}
