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
 * @param images N, the tiles the tower runs (one per image, or an any-resolution image's several)
 * @param lossIndex flat positions whose next token is a target, [M]
 * @param labels world rows of those next tokens, [M]
 * @param grounding what each image position shows, for the grounding loss ({@link Grounding#NONE}
 *     when the step has none)
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
    int[] labels,
    Grounding grounding) {

  /**
   * The image positions a shape covers and the world rows of that shape's colour and kind words:
   * the grounding loss asks each such position's projected feature, read through the tied embedding
   * as the language model's head reads its last layer, to name both words.
   *
   * @param index flat image-feature rows, [K] (into the step's [N * P] features)
   * @param color world row of the covering shape's colour word, [K]
   * @param kind world row of the covering shape's kind word, [K]
   */
  public record Grounding(int[] index, int[] color, int[] kind) {

    public static final Grounding NONE = new Grounding(new int[0], new int[0], new int[0]);

    public Grounding {
      if (color.length != index.length || kind.length != index.length) {
        throw new IllegalArgumentException("grounding arrays differ in length");
      }
    }

    public int size() {
      return index.length;
    }
  }

  /** This batch with {@code g} as its grounding targets. */
  public TrainingBatch withGrounding(Grounding g) {
    return new TrainingBatch(
        batch, tokens, rows, imageIndex, imageMask, pixels, images, lossIndex, labels, g);
  }

  /** Packs encoded samples with their images' pixels (each [3 * S * S], in sample order). */
  public static TrainingBatch of(
      List<EncodedSample> samples,
      List<float[]> imagePixels,
      WorldVocabulary vocabulary,
      int imagePositions) {
    int positions = samples.stream().mapToInt(EncodedSample::images).sum() * imagePositions;
    int[] identity = new int[positions];
    for (int k = 0; k < positions; k++) {
      identity[k] = k;
    }
    return of(samples, imagePixels, imagePixels.size(), vocabulary, identity);
  }

  /**
   * Packs encoded samples with their images' tiles, where an image position's feature is any row of
   * the tiles' features: LLaVA-NeXT's packed layout, a base tile, the un-padded grid and a newline
   * row.
   *
   * @param imagePixels each image's tiles, [tiles * 3 * S * S], in sample order
   * @param tiles the tiles of all the images
   * @param featureRows for the batch's image positions in order (each sample's, in its slot order),
   *     the flat row of the step's features each one takes
   */
  public static TrainingBatch of(
      List<EncodedSample> samples,
      List<float[]> imagePixels,
      int tiles,
      WorldVocabulary vocabulary,
      int[] featureRows) {
    int b = samples.size();
    int t = samples.stream().mapToInt(EncodedSample::length).max().orElse(1);
    int[] rows = new int[b * t];
    int[] imageIndex = new int[b * t];
    float[] imageMask = new float[b * t];
    List<Integer> lossIndex = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    java.util.Arrays.fill(rows, vocabulary.otherRow());
    int imageCount = 0;
    int positionBase = 0;
    for (int s = 0; s < b; s++) {
      EncodedSample e = samples.get(s);
      int positions = 0;
      for (int p = 0; p < e.length(); p++) {
        int flat = s * t + p;
        rows[flat] = vocabulary.row(e.ids()[p]);
        int slot = e.imageSlot()[p];
        if (slot >= 0) {
          if (positionBase + slot >= featureRows.length) {
            throw new IllegalArgumentException(
                "image position " + (positionBase + slot) + " has no feature row");
          }
          imageIndex[flat] = featureRows[positionBase + slot];
          imageMask[flat] = 1f;
          positions++;
        }
        if (p + 1 < e.length() && e.target()[p + 1]) {
          lossIndex.add(flat);
          labels.add(vocabulary.row(e.ids()[p + 1]));
        }
      }
      positionBase += positions;
      imageCount += e.images();
    }
    if (positionBase != featureRows.length) {
      throw new IllegalArgumentException(
          positionBase + " image positions but " + featureRows.length + " feature rows");
    }
    if (imagePixels.size() != imageCount) {
      throw new IllegalArgumentException(
          imageCount + " images in the samples but " + imagePixels.size() + " given");
    }
    int total = imagePixels.stream().mapToInt(px -> px.length).sum();
    float[] pixels = new float[total];
    int at = 0;
    for (float[] px : imagePixels) {
      System.arraycopy(px, 0, pixels, at, px.length);
      at += px.length;
    }
    return new TrainingBatch(
        b,
        t,
        rows,
        imageIndex,
        imageMask,
        pixels,
        tiles,
        lossIndex.stream().mapToInt(Integer::intValue).toArray(),
        labels.stream().mapToInt(Integer::intValue).toArray(),
        Grounding.NONE);
  }

  /** Tokens the loss covers. */
  public int targets() {
    return lossIndex.length;
  }
}
