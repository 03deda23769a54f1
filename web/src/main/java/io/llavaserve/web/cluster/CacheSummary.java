package io.llavaserve.web.cluster;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A bounded set of the cache keys ({@link CacheKeys}) of the requests an engine served most
 * recently: what it publishes as the summary of its caches, and what a gateway keeps per engine of
 * the requests it sent there. Least recently used keys go first, past {@link #capacity}. Like
 * SGLang's router tree, it approximates the engine's caches: an evicted block may still be listed.
 * Safe on any thread.
 */
final class CacheSummary {

  /** Keys an engine publishes at most: 4,096 longs, about 80 KB of JSON when it changes. */
  static final int DEFAULT_CAPACITY = 4096;

  private final int capacity;
  private final LinkedHashMap<Long, Boolean> keys;
  private long version;

  CacheSummary(int capacity) {
    this.capacity = capacity;
    this.keys =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
            return size() > CacheSummary.this.capacity;
          }
        };
  }

  synchronized void add(CacheKeys k) {
    for (long d : k.images()) {
      keys.put(d, Boolean.TRUE);
    }
    for (long h : k.prefix()) {
      keys.put(h, Boolean.TRUE);
    }
    if (k.images().length + k.prefix().length > 0) {
      version++;
    }
  }

  synchronized void replace(long[] all) {
    keys.clear();
    for (long k : all) {
      keys.put(k, Boolean.TRUE);
    }
    version++;
  }

  synchronized boolean contains(long key) {
    return keys.containsKey(key);
  }

  /** Changes so far: a new value means a new summary to publish. */
  synchronized long version() {
    return version;
  }

  synchronized long[] toArray() {
    return keys.keySet().stream().mapToLong(Long::longValue).toArray();
  }
}
