package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class TopKTest {

  /** Reference: a full sort by value descending, then id ascending. */
  private static int[] sortedIds(float[] v, int offset, int n, int k) {
    return IntStream.range(0, n)
        .boxed()
        .sorted(
            Comparator.<Integer>comparingDouble(i -> -v[offset + i])
                .thenComparing(Comparator.naturalOrder()))
        .limit(k)
        .mapToInt(Integer::intValue)
        .toArray();
  }

  @Test
  void matchesAFullSortIncludingTies() {
    Random r = new Random(1);
    for (int trial = 0; trial < 200; trial++) {
      int n = 1 + r.nextInt(300);
      int offset = r.nextInt(5);
      float[] v = new float[offset + n];
      for (int i = 0; i < v.length; i++) {
        // Few distinct values, so ties are common; some negative, some -inf.
        v[i] = r.nextInt(10) == 0 ? Float.NEGATIVE_INFINITY : r.nextInt(7) - 3;
      }
      int k = 1 + r.nextInt(n + 3);
      assertArrayEquals(
          sortedIds(v, offset, n, Math.min(k, n)), TopK.largest(v, offset, n, k), "trial " + trial);
    }
  }

  @Test
  void keysOrderLikeFloatsThenByLowerId() {
    float[] values = {Float.NEGATIVE_INFINITY, -3.5f, -0.0f, 0.0f, 1e-30f, 2f, Float.MAX_VALUE};
    for (int i = 1; i < values.length; i++) {
      assertTrue(TopK.key(values[i - 1], 0) < TopK.key(values[i], 0), "at " + i);
    }
    assertTrue(TopK.key(1f, 3) > TopK.key(1f, 4));
    assertEquals(31999, TopK.id(TopK.key(-2f, 31999)));
  }

  @Test
  void argmaxTakesTheLowestIdOnTies() {
    assertEquals(1, TopK.argmax(new float[] {1f, 5f, 2f, 5f}, 0, 4));
    assertEquals(1, TopK.argmax(new float[] {9f, 1f, 5f, 2f, 5f}, 1, 4)); // relative to the offset
  }
}
