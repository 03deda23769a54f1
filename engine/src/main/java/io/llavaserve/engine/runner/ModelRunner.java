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

  /**
   * One decoder step over the paged KV cache: for each chunk, the candidates of its last token and
   * what its sampling asks for, or every logit of the step when the batch asks for all.
   */
  StepOutput execute(ScheduledBatch batch);

  /** The pool this runner's KV cache was built with. */
  KvCacheConfig kvCache();

  /** Rows of the logits (the LM head's vocabulary). */
  int vocabSize();

  @Override
  void close();
}
