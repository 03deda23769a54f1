package io.llavaserve.engine.image;

import java.util.List;

/**
 * LLaVA-1.5's image preprocessing: {@code expand2square} with the mean colour, then transformers'
 * {@code CLIPImageProcessor} (shortest-edge bicubic resize through Pillow, centre crop, rescale,
 * normalise); or {@code SiglipImageProcessor}'s (bicubic resize through Pillow straight to height x
 * width, rescale, normalise); or {@code LlavaNextImageProcessor}'s (the image cut into tiles by
 * {@link AnyResolutionTiling}, then CLIP's steps on each tile); or {@code
 * LlavaOnevisionImageProcessor}'s (a prompt's lone image tiled so, then SigLIP's steps on each
 * tile; an image among several padded to a square of the mean colour, then SigLIP's steps). Each
 * produces the tower's {@code pixel_values}.
 *
 * <p>Stateless after construction and safe to share between threads. CPU-bound: run it off the
 * event loop.
 */
public final class ImagePreprocessor {

  private final PreprocessConfig config;

  public ImagePreprocessor(PreprocessConfig config) {
    this.config = config;
  }

  public PreprocessConfig config() {
    return config;
  }

  /**
   * The tower input for {@code image}, the only image of its prompt: {@code [3, height, width]}
   * float32, the crop's size or, with no crop, the resize's; for a tiling processor {@code [tiles,
   * 3, height, width]} with the image's size recorded.
   */
  public PixelValues preprocess(RgbImage image) {
    return preprocess(image, 1);
  }

  /**
   * The tower input for {@code image}, one of {@code imagesInPrompt} images of its prompt: as
   * {@link #preprocess(RgbImage)}, except that LlavaOnevisionImageProcessor tiles only a lone
   * image; one of several becomes one tile ({@code [1, 3, height, width]}, its size recorded),
   * padded to a square of the mean colour and resized.
   */
  public PixelValues preprocess(RgbImage image, int imagesInPrompt) {
    if (imagesInPrompt < 1) {
      throw new IllegalArgumentException(
          "a prompt with an image has at least one, got " + imagesInPrompt);
    }
    if (config.tilesImageAmong(imagesInPrompt)) {
      return preprocessTiles(image);
    }
    if (config.tilesImages()) {
      return preprocessOneOfSeveral(image);
    }
    RgbImage cropped = resizeAndCrop(image);
    return PixelValues.of(3, cropped.height(), cropped.width(), normalize(cropped));
  }

  /**
   * LlavaOnevisionImageProcessor on an image among several ({@code need_patching} false): {@code
   * pad_to_square} with {@code int(mean * 255)} per channel, the image at {@code (side - short) //
   * 2}, then the resize to {@code size}, rescale and normalise, as one tile with the image's size.
   */
  private PixelValues preprocessOneOfSeveral(RgbImage image) {
    RgbImage tile = resizeAndCrop(expandToSquare(image, config.padColour()));
    return PixelValues.tiled(
        1, 3, tile.height(), tile.width(), image.height(), image.width(), normalize(tile));
  }

  /**
   * LlavaNextImageProcessor and LlavaOnevisionImageProcessor: the base tile and the grid tiles
   * ({@link AnyResolutionTiling}), each resized (and for LLaVA-NeXT cropped), rescaled and
   * normalised, into {@code [tiles, 3, height, width]} with the image's size.
   */
  private PixelValues preprocessTiles(RgbImage image) {
    List<RgbImage> tiles = AnyResolutionTiling.tiles(image, config);
    RgbImage first = resizeAndCrop(tiles.get(0));
    int h = first.height();
    int w = first.width();
    float[] data = new float[tiles.size() * 3 * h * w];
    for (int t = 0; t < tiles.size(); t++) {
      RgbImage tile = t == 0 ? first : resizeAndCrop(tiles.get(t));
      if (tile.height() != h || tile.width() != w) {
        throw new IllegalStateException(
            "tile "
                + t
                + " is "
                + tile.width()
                + " x "
                + tile.height()
                + ", tile 0 "
                + w
                + " x "
                + h);
      }
      float[] one = normalize(tile);
      System.arraycopy(one, 0, data, t * one.length, one.length);
    }
    return PixelValues.tiled(tiles.size(), 3, h, w, image.height(), image.width(), data);
  }

  /** Rescale and normalise an 8-bit image into {@code [3, height, width]} float32. */
  private float[] normalize(RgbImage cropped) {
    int h = cropped.height();
    int w = cropped.width();
    double[] mean = config.imageMean();
    double[] std = config.imageStd();
    byte[] rgb = cropped.rgb();
    float[] data = new float[3 * h * w]; // [3, h, w]
    for (int c = 0; c < 3; c++) {
      // transformers narrows mean and std to the image's float32 before subtracting.
      float m = (float) mean[c];
      float s = (float) std[c];
      int plane = c * h * w;
      for (int p = 0; p < h * w; p++) {
        int v = rgb[p * 3 + c] & 0xff;
        // Rescale multiplies in float64 and then casts to float32, as numpy does there.
        float x = config.doRescale() ? (float) (v * config.rescaleFactor()) : v;
        data[plane + p] = config.doNormalize() ? (x - m) / s : x;
      }
    }
    return data;
  }

  /** The 8-bit image just before rescaling: padded, resized and cropped as configured. */
  public RgbImage resizeAndCrop(RgbImage image) {
    RgbImage out = config.padToSquare() ? expandToSquare(image, config.padColour()) : image;
    if (config.doResize()) {
      int[] size = config.size().outputSize(out.width(), out.height());
      out = PillowResize.bicubic(out, size[0], size[1]);
    }
    if (config.doCenterCrop()) {
      out = centerCrop(out, config.cropHeight(), config.cropWidth());
    }
    return out;
  }

  /**
   * LLaVA's {@code expand2square}: a square of side {@code max(w, h)} filled with {@code colour},
   * the image pasted at offset {@code (side - shorter) / 2} (floored) along the padded axis.
   */
  static RgbImage expandToSquare(RgbImage image, int[] colour) {
    int w = image.width();
    int h = image.height();
    if (w == h) {
      return image;
    }
    int side = Math.max(w, h);
    byte[] dst = new byte[side * side * 3];
    for (int p = 0; p < side * side; p++) {
      dst[p * 3] = (byte) colour[0];
      dst[p * 3 + 1] = (byte) colour[1];
      dst[p * 3 + 2] = (byte) colour[2];
    }
    int left = (side - w) / 2;
    int top = (side - h) / 2;
    for (int y = 0; y < h; y++) {
      System.arraycopy(image.rgb(), y * w * 3, dst, ((top + y) * side + left) * 3, w * 3);
    }
    return new RgbImage(side, side, dst);
  }

  /**
   * transformers' {@code center_crop}: offsets {@code (size - crop) // 2} (floor division), and
   * where the crop is larger than the image the outside is zero, as its zero padding leaves it.
   */
  static RgbImage centerCrop(RgbImage image, int cropHeight, int cropWidth) {
    int w = image.width();
    int h = image.height();
    if (w == cropWidth && h == cropHeight) {
      return image;
    }
    int top = Math.floorDiv(h - cropHeight, 2);
    int left = Math.floorDiv(w - cropWidth, 2);
    byte[] dst = new byte[cropHeight * cropWidth * 3];
    for (int y = 0; y < cropHeight; y++) {
      int sy = y + top;
      if (sy < 0 || sy >= h) {
        continue;
      }
      int x0 = Math.max(0, -left);
      int x1 = Math.min(cropWidth, w - left);
      if (x1 > x0) {
        System.arraycopy(
            image.rgb(), (sy * w + x0 + left) * 3, dst, (y * cropWidth + x0) * 3, (x1 - x0) * 3);
      }
    }
    return new RgbImage(cropWidth, cropHeight, dst);
  }
}
