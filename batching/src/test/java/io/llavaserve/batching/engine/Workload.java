package io.llavaserve.batching.engine;

import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Random requests for scheduler tests: shared system prompts, shared images, varied lengths. */
final class Workload {

  static final int IMAGE_TOKEN = 32000;

  private final SplittableRandom rnd;
  private final List<int[]> prefixes = new ArrayList<>();
  private final List<PixelValues> images = new ArrayList<>();
  private int counter;

  Workload(long seed, int numPrefixes, int numImages) {
    this.rnd = new SplittableRandom(seed);
    for (int i = 0; i < numPrefixes; i++) {
      prefixes.add(randomTokens(1 + rnd.nextInt(40)));
    }
    for (int i = 0; i < numImages; i++) {
      images.add(image(rnd.nextLong()));
    }
  }

  static PixelValues image(long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] data = new float[3 * 2 * 2];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) r.nextDouble();
    }
    return PixelValues.of(3, 2, 2, data);
  }

  int[] randomTokens(int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = 3 + rnd.nextInt(31000);
    }
    return t;
  }

  SplittableRandom random() {
    return rnd;
  }

  /** A request: maybe a shared prefix, maybe an image, then its own text. */
  GenerationRequest next(int maxTokens, Priority priority) {
    List<Integer> ids = new ArrayList<>();
    ids.add(1);
    if (!prefixes.isEmpty() && rnd.nextBoolean()) {
      for (int t : prefixes.get(rnd.nextInt(prefixes.size()))) {
        ids.add(t);
      }
    }
    List<PixelValues> imgs = new ArrayList<>();
    if (!images.isEmpty() && rnd.nextInt(3) > 0) {
      int n = 1 + rnd.nextInt(2);
      for (int i = 0; i < n; i++) {
        imgs.add(images.get(rnd.nextInt(images.size())));
        ids.add(IMAGE_TOKEN);
        ids.add(13);
      }
    }
    for (int t : randomTokens(1 + rnd.nextInt(30))) {
      ids.add(t);
    }
    int[] prompt = ids.stream().mapToInt(Integer::intValue).toArray();
    return new GenerationRequest(
        "req-" + counter++, prompt, imgs, SamplingParams.greedy(maxTokens), priority);
  }

  /** Content values of a request's expanded prompt, as the fake runner sees them. */
  static long[] contentValues(GenerationRequest r, int rowsPerImage) {
    List<Long> v = new ArrayList<>();
    int img = 0;
    for (int id : r.promptIds()) {
      if (id == IMAGE_TOKEN) {
        var f = FakeModelRunner.features(r.images().get(img++).digest(), rowsPerImage);
        for (int row = 0; row < rowsPerImage; row++) {
          v.add(FakeModelRunner.imageValue(f.data()[row * FakeModelRunner.WIDTH]));
        }
      } else {
        v.add(FakeModelRunner.textValue(id));
      }
    }
    return v.stream().mapToLong(Long::longValue).toArray();
  }
}
