package io.llavaserve.engine.training;

/**
 * One training sequence: token ids with each image expanded to its feature positions, and which
 * positions are targets of the loss.
 *
 * @param ids token ids, [T]; image positions hold the image token id
 * @param imageSlot for each position, {@code image * P + offset} of the image feature it takes, or
 *     -1 for a text position
 * @param target whether the token at each position is predicted by the loss (assistant answers and
 *     their end-of-sequence token)
 * @param images how many images the sequence holds
 */
public record EncodedSample(int[] ids, int[] imageSlot, boolean[] target, int images) {
  public EncodedSample {
    if (ids.length != imageSlot.length || ids.length != target.length) {
      throw new IllegalArgumentException("ids, imageSlot and target must have the same length");
    }
  }

  public int length() {
    return ids.length;
  }

  /** Number of target positions (tokens the loss covers). */
  public int targets() {
    int n = 0;
    for (boolean t : target) {
      n += t ? 1 : 0;
    }
    return n;
  }
}
