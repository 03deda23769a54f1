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
 * @param n how many choices to sample from the prompt (OpenAI's {@code n}); the engine computes the
 *     prompt's KV blocks once and shares them between the choices
 */
public record GenerationRequest(
    String requestId,
    int[] promptIds,
    List<PixelValues> images,
    SamplingParams sampling,
    Priority priority,
    int n) {

  public GenerationRequest {
    Objects.requireNonNull(requestId, "requestId");
    if (n < 1) {
      throw new IllegalArgumentException("n must be >= 1, got " + n);
    }
    Objects.requireNonNull(sampling, "sampling");
    Objects.requireNonNull(priority, "priority");
    if (promptIds.length == 0) {
      throw new IllegalArgumentException("prompt must hold at least one token");
    }
    promptIds = promptIds.clone();
    images = List.copyOf(images);
  }

  /** A request for one choice. */
  public GenerationRequest(
      String requestId,
      int[] promptIds,
      List<PixelValues> images,
      SamplingParams sampling,
      Priority priority) {
    this(requestId, promptIds, images, sampling, priority, 1);
  }

  /** This request asking for {@code n} choices. */
  public GenerationRequest withN(int n) {
    return new GenerationRequest(requestId, promptIds, images, sampling, priority, n);
  }

  /**
   * How choice {@code choice} samples: as the request, with seed {@code seed + choice} when the
   * request is seeded, so that each choice equals a single-choice request sent with that seed (and
   * choice 0 the request itself). Unseeded choices each draw from their own random generator.
   */
  public SamplingParams samplingOf(int choice) {
    if (choice < 0 || choice >= n) {
      throw new IndexOutOfBoundsException("choice " + choice + " of " + n);
    }
    if (choice == 0 || sampling.seed().isEmpty()) {
      return sampling;
    }
    return sampling.toBuilder().seed(sampling.seed().getAsLong() + choice).build();
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
        && priority == r.priority
        && n == r.n;
  }

  @Override
  public int hashCode() {
    return Objects.hash(requestId, Arrays.hashCode(promptIds), images, sampling, priority, n);
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
        + (n == 1 ? "" : ", n " + n)
        + "]";
  }
}
