package io.llavaserve.batching.request;

import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.sampling.SamplingParams;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One generation request as the serving core takes it: a tokenized prompt holding one image token
 * per image, the preprocessed images in prompt order, and how to sample.
 *
 * @param requestId caller's id, used in logs and errors
 * @param promptIds prompt token ids, one image token per image
 * @param images preprocessed images, in the order their tokens appear
 * @param sampling sampling parameters
 * @param priority interactive or batch
 */
public record GenerationRequest(
    String requestId,
    int[] promptIds,
    List<PixelValues> images,
    SamplingParams sampling,
    Priority priority) {

  public GenerationRequest {
    Objects.requireNonNull(requestId, "requestId");
    Objects.requireNonNull(sampling, "sampling");
    Objects.requireNonNull(priority, "priority");
    if (promptIds.length == 0) {
      throw new IllegalArgumentException("prompt must hold at least one token");
    }
    promptIds = promptIds.clone();
    images = List.copyOf(images);
  }

  public static GenerationRequest interactive(
      String requestId, int[] promptIds, List<PixelValues> images, SamplingParams sampling) {
    return new GenerationRequest(requestId, promptIds, images, sampling, Priority.INTERACTIVE);
  }

  @Override
  public int[] promptIds() {
    return promptIds.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GenerationRequest r
        && requestId.equals(r.requestId)
        && Arrays.equals(promptIds, r.promptIds)
        && images.equals(r.images)
        && sampling.equals(r.sampling)
        && priority == r.priority;
  }

  @Override
  public int hashCode() {
    return Objects.hash(requestId, Arrays.hashCode(promptIds), images, sampling, priority);
  }

  @Override
  public String toString() {
    return "GenerationRequest["
        + requestId
        + ", "
        + promptIds.length
        + " prompt ids, "
        + images.size()
        + " images, "
        + priority
        + "]";
  }
}
