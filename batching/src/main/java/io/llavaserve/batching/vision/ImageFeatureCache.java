package io.llavaserve.batching.vision;

import io.llavaserve.engine.runner.ImageFeatures;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Projected image features by image digest, least recently used first out, bounded by bytes. The
 * same image in a later request then costs no vision work. Owned by the engine thread.
 */
public final class ImageFeatureCache {

  private final long capacityBytes;
  private final LinkedHashMap<String, ImageFeatures> entries = new LinkedHashMap<>(16, 0.75f, true);
  private long sizeBytes;
  private long hits;
  private long misses;

  public ImageFeatureCache(long capacityBytes) {
    if (capacityBytes < 0) {
      throw new IllegalArgumentException("image cache capacity must be >= 0");
    }
    this.capacityBytes = capacityBytes;
  }

  /** The cached features, or null; counts a hit or a miss. */
  public ImageFeatures get(String digest) {
    ImageFeatures f = entries.get(digest);
    if (f != null) {
      hits++;
    } else {
      misses++;
    }
    return f;
  }

  /** Caches {@code features}, evicting the least recently used entries to stay in budget. */
  public void put(String digest, ImageFeatures features) {
    if (features.sizeBytes() > capacityBytes) {
      return;
    }
    ImageFeatures old = entries.put(digest, features);
    if (old != null) {
      sizeBytes -= old.sizeBytes();
    }
    sizeBytes += features.sizeBytes();
    var it = entries.entrySet().iterator();
    while (sizeBytes > capacityBytes && it.hasNext()) {
      Map.Entry<String, ImageFeatures> e = it.next();
      sizeBytes -= e.getValue().sizeBytes();
      it.remove();
    }
  }

  public long hits() {
    return hits;
  }

  public long misses() {
    return misses;
  }

  public long sizeBytes() {
    return sizeBytes;
  }

  public int size() {
    return entries.size();
  }
}
