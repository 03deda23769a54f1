package io.llavaserve.web.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.web.errors.ApiError;
import org.junit.jupiter.api.Test;

class KeyQuotasTest {

  @Test
  void concurrencyIsCountedPerKeyAndReleasedOnce() {
    KeyQuotas q = new KeyQuotas(2, 2, 0);
    Runnable a = q.admit(0);
    Runnable b = q.admit(0);
    ApiError over = assertThrows(ApiError.class, () -> q.admit(0));
    assertEquals(429, over.status());
    assertTrue(over.getMessage().contains("server.api-key-max-concurrent"), over.getMessage());
    q.admit(1).run(); // another key is not affected
    a.run();
    a.run(); // twice is harmless
    assertEquals(1, q.running(0));
    q.admit(0);
    assertEquals(2, q.running(0));
    b.run();
  }

  @Test
  void theRateIsABucketOfAMinutesWorthPerKey() {
    KeyQuotas q = new KeyQuotas(2, 0, 3);
    for (int i = 0; i < 3; i++) {
      q.admit(0).run();
    }
    ApiError over = assertThrows(ApiError.class, () -> q.admit(0));
    assertEquals(429, over.status());
    // one token comes back every 20 s at 3 a minute
    assertTrue(
        over.retryAfterSeconds() >= 1 && over.retryAfterSeconds() <= 20,
        "Retry-After " + over.retryAfterSeconds());
    q.admit(1).run();
  }
}
