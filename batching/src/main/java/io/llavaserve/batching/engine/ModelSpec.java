package io.llavaserve.batching.engine;

/**
 * What the serving core needs to know of the model besides its runner.
 *
 * @param imageTokenId id of the image placeholder in prompts
 * @param rowsPerImage positions one image fills
 * @param maxModelLen longest sequence (prompt positions plus output) the model and cache allow
 * @param eosTokenId end-of-sequence id, or -1
 */
public record ModelSpec(int imageTokenId, int rowsPerImage, int maxModelLen, int eosTokenId) {

  public ModelSpec {
    if (rowsPerImage < 1 || maxModelLen < 2) {
      throw new IllegalArgumentException("rowsPerImage must be >= 1 and maxModelLen >= 2");
    }
  }
}
