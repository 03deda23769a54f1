package io.llavaserve.engine.training;

import java.util.ArrayList;
import java.util.List;

/**
 * One step's data as the flat arrays the graph is fed: B sequences padded on the right to the
 * longest, the pixels of their images, and the loss positions with their labels.
 *
 * @param batch B
 * @param tokens T, the longest sequence
 * @param rows world rows, [B * T]
 * @param imageIndex flat image-feature row for each position, [B * T] (0 at text positions)
 * @param imageMask 1 at image positions, [B * T]
 * @param pixels the images' pixel values, [N * 3 * S * S], empty without images
 * @param images N
 * @param lossIndex flat positions whose next token is a target, [M]
 * @param labels world rows of those next tokens, [M]
 */
public record TrainingBatch(
    int batch,
    int tokens,
    int[] rows,
    int[] imageIndex,
    float[] imageMask,
    float[] pixels,
    int images,
    int[] lossIndex,
    int[] labels) {

  /** Packs encoded samples with their images' pixels (each [3 * S * S], in sample order). */
  public static TrainingBatch of(
      List<EncodedSample> samples,
      List<float[]> imagePixels,
      WorldVocabulary vocabulary,
      int imagePositions) {
    int b = samples.size();
    int t = samples.stream().mapToInt(EncodedSample::length).max().orElse(1);
    int[] rows = new int[b * t];
    int[] imageIndex = new int[b * t];
    float[] imageMask = new float[b * t];
    List<Integer> lossIndex = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    java.util.Arrays.fill(rows, vocabulary.otherRow());
    int imageBase = 0;
    for (int s = 0; s < b; s++) {
      EncodedSample e = samples.get(s);
      for (int p = 0; p < e.length(); p++) {
        int flat = s * t + p;
        rows[flat] = vocabulary.row(e.ids()[p]);
        if (e.imageSlot()[p] >= 0) {
          imageIndex[flat] = imageBase * imagePositions + e.imageSlot()[p];
          imageMask[flat] = 1f;
        }
        if (p + 1 < e.length() && e.target()[p + 1]) {
          lossIndex.add(flat);
          labels.add(vocabulary.row(e.ids()[p + 1]));
        }
      }
      imageBase += e.images();
    }
    int n = imagePixels.size();
    if (n != imageBase) {
      throw new IllegalArgumentException(imageBase + " image positions but " + n + " images");
    }
    int each = n == 0 ? 0 : imagePixels.get(0).length;
    float[] pixels = new float[n * each];
    for (int i = 0; i < n; i++) {
      System.arraycopy(imagePixels.get(i), 0, pixels, i * each, each);
    }
    return new TrainingBatch(
        b,
        t,
        rows,
        imageIndex,
        imageMask,
        pixels,
        n,
        lossIndex.stream().mapToInt(Integer::intValue).toArray(),
        labels.stream().mapToInt(Integer::intValue).toArray());
  }

  /** Tokens the loss covers. */
  public int targets() {
    return lossIndex.length;
  }
}
