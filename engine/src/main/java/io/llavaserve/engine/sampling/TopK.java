package io.llavaserve.engine.sampling;

/**
 * Partial selection of the largest logits without sorting the vocabulary.
 *
 * <p>A candidate is packed into one {@code long}: the float's bits, made to order like signed ints,
 * in the high word and {@code MAX_VALUE - id} in the low word. Comparing two keys as longs then
 * orders by logit and, on ties, prefers the lower id, so heaps and sorts work on primitive arrays.
 */
final class TopK {

  private TopK() {}

  /** A key that is larger for a larger value and, on equal values, for a smaller id. */
  static long key(float value, int id) {
    int bits = Float.floatToRawIntBits(value);
    int ordered = bits ^ ((bits >> 31) & 0x7fffffff);
    return ((long) ordered << 32) | (Integer.MAX_VALUE - id);
  }

  static int id(long key) {
    return Integer.MAX_VALUE - (int) key;
  }

  /**
   * Ids of the {@code k} largest of {@code values[offset .. offset + n)}, largest first, ties by
   * lower id. O(n log k) with a min-heap whose root is the weakest kept candidate; most elements
   * are rejected by one float comparison against it.
   */
  static int[] largest(float[] values, int offset, int n, int k) {
    k = Math.min(k, n);
    if (k <= 0) {
      return new int[0];
    }
    long[] heap = new long[k];
    for (int i = 0; i < k; i++) {
      heap[i] = key(values[offset + i], i);
    }
    for (int i = k / 2 - 1; i >= 0; i--) {
      siftDown(heap, i, k);
    }
    float weakest = valueOf(heap[0]);
    for (int i = k; i < n; i++) {
      float v = values[offset + i];
      // Equal values lose to the kept ones: those have lower ids.
      if (v > weakest) {
        heap[0] = key(v, i);
        siftDown(heap, 0, k);
        weakest = valueOf(heap[0]);
      }
    }
    java.util.Arrays.sort(heap);
    int[] ids = new int[k];
    for (int i = 0; i < k; i++) {
      ids[i] = id(heap[k - 1 - i]);
    }
    return ids;
  }

  private static float valueOf(long key) {
    int ordered = (int) (key >>> 32);
    return Float.intBitsToFloat(ordered ^ ((ordered >> 31) & 0x7fffffff));
  }

  private static void siftDown(long[] heap, int i, int size) {
    long x = heap[i];
    while (true) {
      int child = 2 * i + 1;
      if (child >= size) {
        break;
      }
      if (child + 1 < size && heap[child + 1] < heap[child]) {
        child++;
      }
      if (heap[child] >= x) {
        break;
      }
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = x;
  }

  /** Index (relative to offset) of the largest value, the lowest such index on ties. */
  static int argmax(float[] values, int offset, int n) {
    int best = 0;
    float bestValue = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      float v = values[offset + i];
      if (v > bestValue) {
        bestValue = v;
        best = i;
      }
    }
    return best;
  }
}
