package io.llavaserve.batching.engine;

import io.llavaserve.batching.scheduler.SchedulerConfig;

/**
 * How the serving core runs a model.
 *
 * @param scheduler step and queue limits
 * @param enablePrefixCaching reuse KV blocks across requests that share a prefix or an image
 * @param imageCacheBytes budget of the projected-image-feature cache
 */
public record EngineConfig(
    SchedulerConfig scheduler, boolean enablePrefixCaching, long imageCacheBytes) {

  public EngineConfig {
    if (imageCacheBytes < 0) {
      throw new IllegalArgumentException("image cache bytes must be >= 0");
    }
  }

  public static EngineConfig defaults() {
    return new EngineConfig(SchedulerConfig.defaults(), true, 256L << 20);
  }

  public EngineConfig withScheduler(SchedulerConfig s) {
    return new EngineConfig(s, enablePrefixCaching, imageCacheBytes);
  }

  public EngineConfig withPrefixCaching(boolean on) {
    return new EngineConfig(scheduler, on, imageCacheBytes);
  }
}
