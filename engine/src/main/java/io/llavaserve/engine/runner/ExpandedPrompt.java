package io.llavaserve.engine.runner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A prompt with each image token expanded to the positions its features fill: what the decoder
 * actually sees. Image positions keep the image token id (the prefix cache tells images apart by
 * their digest, not by id). A llava image fills {@code image_seq_length} positions; a llava_next
 * image as many as its size gives, so each image has its own count.
 *
 * @param tokens the expanded token ids
 * @param imageStarts position of the first row of image {@code i}
 * @param imageRows positions image {@code i} occupies
 */
public record ExpandedPrompt(int[] tokens, int[] imageStarts, int[] imageRows) {

  public ExpandedPrompt {
    tokens = tokens.clone();
    imageStarts = imageStarts.clone();
    imageRows = imageRows.clone();
    if (imageRows.length != imageStarts.length) {
      throw new IllegalArgumentException(
          imageStarts.length + " image starts but " + imageRows.length + " row counts");
    }
  }

  /** Expands every {@code imageTokenId} in {@code ids} to {@code rowsPerImage} positions. */
  public static ExpandedPrompt expand(int[] ids, int imageTokenId, int rowsPerImage) {
    int[] rows = new int[imageTokens(ids, imageTokenId)];
    Arrays.fill(rows, rowsPerImage);
    return expand(ids, imageTokenId, rows);
  }

  /**
   * Expands the {@code i}-th {@code imageTokenId} in {@code ids} to {@code rowsPerImage[i]}
   * positions.
   *
   * @throws IllegalArgumentException when the prompt has another number of image tokens
   */
  public static ExpandedPrompt expand(int[] ids, int imageTokenId, int[] rowsPerImage) {
    int images = imageTokens(ids, imageTokenId);
    if (images != rowsPerImage.length) {
      throw new IllegalArgumentException(
          "prompt has " + images + " image tokens but " + rowsPerImage.length + " images");
    }
    long length = ids.length - images;
    for (int r : rowsPerImage) {
      if (r < 1) {
        throw new IllegalArgumentException("an image fills at least one position, got " + r);
      }
      length += r;
    }
    int[] tokens = new int[Math.toIntExact(length)];
    int[] starts = new int[images];
    int t = 0;
    int img = 0;
    for (int id : ids) {
      if (id == imageTokenId) {
        int rows = rowsPerImage[img];
        starts[img++] = t;
        Arrays.fill(tokens, t, t + rows, imageTokenId);
        t += rows;
      } else {
        tokens[t++] = id;
      }
    }
    return new ExpandedPrompt(tokens, starts, rowsPerImage);
  }

  /** How many {@code imageTokenId} placeholders {@code ids} holds. */
  public static int imageTokens(int[] ids, int imageTokenId) {
    int images = 0;
    for (int id : ids) {
      if (id == imageTokenId) {
        images++;
      }
    }
    return images;
  }

  /** Positions image {@code i} occupies. */
  public int imageRows(int i) {
    return imageRows[i];
  }

  public int length() {
    return tokens.length;
  }

  public int imageCount() {
    return imageStarts.length;
  }

  /** Token ids of positions {@code [from, to)}. */
  public int[] slice(int from, int to) {
    return Arrays.copyOfRange(tokens, from, to);
  }

  /** Index of the image covering {@code position}, or -1 for a text position. */
  public int imageAt(int position) {
    for (int i = 0; i < imageStarts.length; i++) {
      if (position >= imageStarts[i] && position < imageStarts[i] + imageRows[i]) {
        return i;
      }
    }
    return -1;
  }

  /**
   * The image rows that fall in the chunk {@code [from, to)}, given each image's features in prompt
   * order.
   */
  public List<ImagePlacement> placements(int from, int to, List<ImageFeatures> features) {
    if (features.size() != imageStarts.length) {
      throw new IllegalArgumentException(
          "prompt has " + imageStarts.length + " images but " + features.size() + " were given");
    }
    return placements(from, to, features::get);
  }

  /**
   * The image rows that fall in the chunk {@code [from, to)}, asking {@code features} for image
   * {@code i}'s features only when the chunk overlaps it.
   */
  public List<ImagePlacement> placements(
      int from, int to, java.util.function.IntFunction<ImageFeatures> features) {
    List<ImagePlacement> out = new ArrayList<>();
    for (int i = 0; i < imageStarts.length; i++) {
      int start = Math.max(from, imageStarts[i]);
      int end = Math.min(to, imageStarts[i] + imageRows[i]);
      if (start < end) {
        out.add(
            new ImagePlacement(
                start - from, features.apply(i), start - imageStarts[i], end - start));
      }
    }
    return out;
  }
}
