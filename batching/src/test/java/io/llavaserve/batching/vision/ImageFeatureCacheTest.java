package io.llavaserve.batching.vision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llavaserve.engine.runner.ImageFeatures;
import org.junit.jupiter.api.Test;

class ImageFeatureCacheTest {

  /** Features of {@code rows} rows of width 4: {@code rows * 16} bytes. */
  private static ImageFeatures features(int rows) {
    return new ImageFeatures(rows, 4, new float[rows * 4]);
  }

  @Test
  void countsHitsAndMisses() {
    ImageFeatureCache cache = new ImageFeatureCache(1 << 20);
    assertNull(cache.get("a"));
    ImageFeatures f = features(2);
    cache.put("a", f);
    assertSame(f, cache.get("a"));
    assertSame(f, cache.get("a"));
    assertEquals(2, cache.hits());
    assertEquals(1, cache.misses());
  }

  @Test
  void evictsTheLeastRecentlyUsedToStayInBudget() {
    long each = features(1).sizeBytes();
    ImageFeatureCache cache = new ImageFeatureCache(3 * each);
    cache.put("a", features(1));
    cache.put("b", features(1));
    cache.put("c", features(1));
    assertNotNull(cache.get("a")); // a is now the most recent; b the least
    cache.put("d", features(1));
    assertNull(cache.get("b"));
    assertNotNull(cache.get("a"));
    assertNotNull(cache.get("c"));
    assertNotNull(cache.get("d"));
    assertEquals(3, cache.size());
    assertEquals(3 * each, cache.sizeBytes());
    // A large entry pushes out as many as it needs, oldest first.
    cache.put("big", features(2));
    assertEquals(2, cache.size());
    assertNull(cache.get("a"));
    assertNotNull(cache.get("d"));
    assertEquals(3 * each, cache.sizeBytes());
  }

  @Test
  void replacingAnEntryCountsItsBytesOnce() {
    ImageFeatureCache cache = new ImageFeatureCache(1 << 20);
    cache.put("a", features(1));
    cache.put("a", features(3));
    assertEquals(1, cache.size());
    assertEquals(features(3).sizeBytes(), cache.sizeBytes());
  }

  @Test
  void anEntryLargerThanTheBudgetIsNotCachedAndEvictsNothing() {
    long each = features(1).sizeBytes();
    ImageFeatureCache cache = new ImageFeatureCache(2 * each);
    cache.put("a", features(1));
    cache.put("huge", features(3));
    assertNull(cache.get("huge"));
    assertNotNull(cache.get("a"));
    ImageFeatureCache none = new ImageFeatureCache(0);
    none.put("a", features(1));
    assertEquals(0, none.size());
    assertThrows(IllegalArgumentException.class, () -> new ImageFeatureCache(-1));
  }
}
