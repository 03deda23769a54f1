package io.llavaserve.engine.runner;

import io.llavaserve.engine.image.PixelValues;
import java.util.List;

/**
 * Runs the model: the seam between the serving core and the compute. One thread drives a runner;
 * each call is one session call on the device.
 */
public interface ModelRunner extends AutoCloseable {

  /** Vision tower and projector for {@code images} in one run; one result per image. */
  List<ImageFeatures> encodeImages(List<PixelValues> images);

  /** One decoder step over the paged KV cache; the logits are a new array. */
  StepOutput execute(ScheduledBatch batch);

  /**
   * One decoder step that may write its logits into {@code reuse} (when it holds enough floats)
   * instead of a new array, so that a loop stepping many times does not allocate megabytes of fresh
   * memory per step. The caller must be done with any earlier output in {@code reuse}; a returned
   * array other than {@code reuse} is a good one to pass next time.
   */
  default StepOutput execute(ScheduledBatch batch, float[] reuse) {
    return execute(batch);
  }

  /** The pool this runner's KV cache was built with. */
  KvCacheConfig kvCache();

  /** Rows of the logits (the LM head's vocabulary). */
  int vocabSize();

  @Override
  void close();
}
