package io.llavaserve.batching.engine;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.image.PixelValues;

/**
 * What the serving core needs to know of the model besides its runner.
 *
 * @param imageTokenId id of the image placeholder in prompts
 * @param rowsPerImage positions one image fills (llava), or one tile's features (llava_next,
 *     llava_onevision)
 * @param maxModelLen longest sequence (prompt positions plus output) the model and cache allow
 * @param eosTokenId end-of-sequence id, or -1
 * @param anyResolution llava_next's or llava_onevision's tiling, under which an image's positions
 *     depend on its size (and for llava_onevision on whether its prompt has other images); null
 *     when every image fills {@code rowsPerImage}
 * @param moreEosTokenIds ids besides {@code eosTokenId} that end an answer unless the request
 *     ignores EOS (generation_config.json's {@code eos_token_id} list)
 */
public record ModelSpec(
    int imageTokenId,
    int rowsPerImage,
    int maxModelLen,
    int eosTokenId,
    AnyResolution anyResolution,
    java.util.Set<Integer> moreEosTokenIds) {

  public ModelSpec {
    if (rowsPerImage < 1 || maxModelLen < 2) {
      throw new IllegalArgumentException("rowsPerImage must be >= 1 and maxModelLen >= 2");
    }
    moreEosTokenIds = java.util.Set.copyOf(moreEosTokenIds);
  }

  /** A model that ends answers on {@code eosTokenId} alone. */
  public ModelSpec(
      int imageTokenId,
      int rowsPerImage,
      int maxModelLen,
      int eosTokenId,
      AnyResolution anyResolution) {
    this(imageTokenId, rowsPerImage, maxModelLen, eosTokenId, anyResolution, java.util.Set.of());
  }

  /** A model whose every image fills {@code rowsPerImage} positions. */
  public ModelSpec(int imageTokenId, int rowsPerImage, int maxModelLen, int eosTokenId) {
    this(imageTokenId, rowsPerImage, maxModelLen, eosTokenId, null);
  }

  /**
   * Positions {@code image} fills in the expanded prompt: {@code rowsPerImage}, or under
   * any-resolution tiling what its size gives, or for an untiled llava_onevision image its tile and
   * a newline (the same counts as transformers' processor).
   */
  public int imageRows(PixelValues image) {
    return anyResolution == null
        ? rowsPerImage
        : anyResolution.positions(image.tiles(), image.imageHeight(), image.imageWidth());
  }

  /**
   * Why {@code image}, one of {@code imagesInPrompt} images of its prompt, cannot feed this model,
   * or null when it can: a one-tile image for llava; for llava_next an image with its size and the
   * tiles that size gives; for llava_onevision that too when it is its prompt's only image, and one
   * tile when it is one of several (LlavaOnevisionImageProcessor tiles only a lone image).
   */
  public String imageMismatch(PixelValues image, int imagesInPrompt) {
    if (anyResolution == null) {
      return image.tiles() == 1 ? null : image.tiles() + " tiles where the model takes one";
    }
    if (!anyResolution.tilesImageAmong(imagesInPrompt)) {
      return image.tiles() == 1
          ? null
          : image.tiles()
              + " tiles where an image among "
              + imagesInPrompt
              + " in a "
              + "llava_onevision prompt runs as one";
    }
    if (anyResolution.isOneVision() && image.tiles() == 1) {
      return "one tile where a llava_onevision prompt's only image is tiled";
    }
    if (!image.hasImageSize()) {
      return "no image size, which any-resolution tiling needs";
    }
    int tiles = anyResolution.tiles(image.imageHeight(), image.imageWidth());
    return image.tiles() == tiles
        ? null
        : image.tiles()
            + " tiles where an image of "
            + image.imageHeight()
            + " x "
            + image.imageWidth()
            + " makes "
            + tiles;
  }
}
