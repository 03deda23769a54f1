package io.llavaserve.engine.image;

import io.llavaserve.engine.config.AnyResolution;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * How an image becomes pixel values for the vision tower: transformers' {@code CLIPImageProcessor}
 * settings plus LLaVA-1.5's pad-to-square step ({@code image_aspect_ratio: pad}), {@code
 * SiglipImageProcessor}'s (a straight resize to {@code height x width}, no crop, no padding),
 * {@code LlavaNextImageProcessor}'s (CLIP's steps on each tile of the image cut at one of its
 * {@code image_grid_pinpoints}, no pad to square), or {@code LlavaOnevisionImageProcessor}'s
 * (SigLIP's steps on each tile of a prompt's lone image cut at a pinpoint; an image among several
 * padded to a square of the mean colour and resized to one tile).
 *
 * <p>Mean and standard deviation are kept as the doubles the JSON holds, because LLaVA computes the
 * pad colour from them in double precision; normalisation narrows them to float32 as transformers
 * does.
 *
 * @param size where the resize goes: the short side to a length (CLIP) or an exact size (SigLIP)
 * @param cropHeight rows kept by the centre crop (unused without it)
 * @param cropWidth columns kept by the centre crop (unused without it)
 * @param imageMean per-channel mean, RGB order, on the 0..1 scale
 * @param imageStd per-channel standard deviation, RGB order
 * @param rescaleFactor multiplier from 0..255 to the mean's scale, 1/255 for CLIP and SigLIP
 * @param padToSquare pad to a square of the mean colour before resizing (LLaVA-1.5)
 * @param doResize resize to {@code size}
 * @param doCenterCrop crop to {@code cropHeight x cropWidth}
 * @param doRescale multiply by {@code rescaleFactor}
 * @param doNormalize subtract the mean and divide by the standard deviation
 * @param imageGridPinpoints LlavaNextImageProcessor's or LlavaOnevisionImageProcessor's
 *     resolutions, empty for the one-tile processors
 * @param tilesLoneImagesOnly LlavaOnevisionImageProcessor's rule ({@code need_patching}: {@code
 *     batch_num_images == 1}): only the image of a prompt with one is tiled; each image of a prompt
 *     with several is padded to a square of the mean colour ({@link #padColour()}) and resized to
 *     one tile
 */
public record PreprocessConfig(
    Size size,
    int cropHeight,
    int cropWidth,
    double[] imageMean,
    double[] imageStd,
    double rescaleFactor,
    boolean padToSquare,
    boolean doResize,
    boolean doCenterCrop,
    boolean doRescale,
    boolean doNormalize,
    List<AnyResolution.Resolution> imageGridPinpoints,
    boolean tilesLoneImagesOnly) {

  /** OpenAI CLIP's normalisation statistics. */
  public static final double[] CLIP_MEAN = {0.48145466, 0.4578275, 0.40821073};

  public static final double[] CLIP_STD = {0.26862954, 0.26130258, 0.27577711};

  /** SiglipImageProcessor's normalisation statistics (ImageNet's "standard" 0.5). */
  public static final double[] SIGLIP_MEAN = {0.5, 0.5, 0.5};

  public static final double[] SIGLIP_STD = {0.5, 0.5, 0.5};

  /**
   * {@code image_processor_type} of CLIPImageProcessor with LLaVA's pad to square as an option
   * ({@code do_pad}).
   */
  public static final String LLAVA_PROCESSOR = "LlavaImageProcessor";

  /** {@code image_processor_type} of the processor that resizes straight to height x width. */
  public static final String SIGLIP_PROCESSOR = "SiglipImageProcessor";

  /** {@code image_processor_type} of the processor that tiles at any resolution. */
  public static final String LLAVA_NEXT_PROCESSOR = "LlavaNextImageProcessor";

  /** {@code image_processor_type} of the processor that tiles only a prompt's lone image. */
  public static final String LLAVA_ONEVISION_PROCESSOR = "LlavaOnevisionImageProcessor";

  /**
   * The target of the resize, as transformers' {@code size} dict gives it: either {@code
   * {"shortest_edge": n}} (the short side becomes n, the aspect ratio kept) or {@code {"height": h,
   * "width": w}} (exactly that size). The unused form's fields are 0.
   *
   * @param shortestEdge the short side after resizing, or 0
   * @param height rows after resizing, or 0
   * @param width columns after resizing, or 0
   */
  public record Size(int shortestEdge, int height, int width) {

    public Size {
      boolean edge = shortestEdge > 0 && height == 0 && width == 0;
      boolean exact = shortestEdge == 0 && height > 0 && width > 0;
      if (!edge && !exact) {
        throw new IllegalArgumentException(
            "size must be a positive shortest_edge or a positive height and width, got "
                + "shortest_edge "
                + shortestEdge
                + ", height "
                + height
                + ", width "
                + width);
      }
    }

    public static Size shortestEdge(int n) {
      return new Size(n, 0, 0);
    }

    public static Size exact(int height, int width) {
      return new Size(0, height, width);
    }

    /** Whether the resize keeps the aspect ratio (a {@code shortest_edge} size). */
    public boolean keepsAspectRatio() {
      return shortestEdge > 0;
    }

    /**
     * {width, height} for an image of {@code width x height}. A shortest edge follows transformers'
     * {@code get_resize_output_image_size(default_to_square=False)}: the short side becomes {@code
     * shortestEdge}, the long side {@code int(shortestEdge * long / short)}, truncated.
     */
    int[] outputSize(int width, int height) {
      if (!keepsAspectRatio()) {
        return new int[] {this.width, this.height};
      }
      int shortSide = Math.min(width, height);
      int longSide = Math.max(width, height);
      int newLong = (int) ((double) ((long) shortestEdge * longSide) / shortSide);
      return width <= height
          ? new int[] {shortestEdge, newLong}
          : new int[] {newLong, shortestEdge};
    }
  }

  /** A one-tile processor (CLIP's or SigLIP's). */
  public PreprocessConfig(
      Size size,
      int cropHeight,
      int cropWidth,
      double[] imageMean,
      double[] imageStd,
      double rescaleFactor,
      boolean padToSquare,
      boolean doResize,
      boolean doCenterCrop,
      boolean doRescale,
      boolean doNormalize) {
    this(
        size,
        cropHeight,
        cropWidth,
        imageMean,
        imageStd,
        rescaleFactor,
        padToSquare,
        doResize,
        doCenterCrop,
        doRescale,
        doNormalize,
        List.of(),
        false);
  }

  public PreprocessConfig {
    if (size == null) {
      throw new IllegalArgumentException("size must not be null");
    }
    imageGridPinpoints = List.copyOf(imageGridPinpoints);
    if (tilesLoneImagesOnly && imageGridPinpoints.isEmpty()) {
      throw new IllegalArgumentException(
          "LlavaOnevisionImageProcessor tiles at image_grid_pinpoints; none were given");
    }
    if (!imageGridPinpoints.isEmpty()) {
      if (padToSquare) {
        throw new IllegalArgumentException("LlavaNextImageProcessor does not pad to a square");
      }
      if (cropHeight != cropWidth) {
        throw new IllegalArgumentException(
            "LlavaNextImageProcessor cuts square tiles; crop_size is "
                + cropHeight
                + " x "
                + cropWidth);
      }
    }
    positive("crop_size.height", cropHeight);
    positive("crop_size.width", cropWidth);
    imageMean = threeChannels("image_mean", imageMean);
    imageStd = threeChannels("image_std", imageStd);
    for (double s : imageStd) {
      if (!(s > 0)) {
        throw new IllegalArgumentException(
            "image_std values must be positive, got " + Arrays.toString(imageStd));
      }
    }
    if (!(rescaleFactor > 0) || Double.isInfinite(rescaleFactor)) {
      throw new IllegalArgumentException("rescale_factor must be positive, got " + rescaleFactor);
    }
  }

  /** LLaVA-1.5 with a CLIP tower of input side {@code size}: pad, resize, crop to {@code size}. */
  public static PreprocessConfig clipDefaults(int size) {
    return new PreprocessConfig(
        Size.shortestEdge(size),
        size,
        size,
        CLIP_MEAN,
        CLIP_STD,
        1.0 / 255,
        true,
        true,
        true,
        true,
        true);
  }

  /**
   * LlavaNextImageProcessor for a tower of input side {@code size}: tiles of {@code size} cut at
   * one of {@code pinpoints}, each then resized (shortest edge), centre-cropped and normalised as
   * CLIPImageProcessor does, with CLIP's statistics.
   */
  public static PreprocessConfig llavaNextDefaults(
      int size, List<AnyResolution.Resolution> pinpoints) {
    return new PreprocessConfig(
        Size.shortestEdge(size),
        size,
        size,
        CLIP_MEAN,
        CLIP_STD,
        1.0 / 255,
        false,
        true,
        true,
        true,
        true,
        pinpoints,
        false);
  }

  /**
   * LlavaOnevisionImageProcessor as llava-onevision checkpoints ship it, for a tower of input side
   * {@code size}: tiles of {@code size} cut at one of {@code pinpoints} for a prompt's lone image,
   * each resized straight to {@code size x size}, rescaled and normalised with mean and standard
   * deviation 0.5 (SigLIP's), no crop; an image among several padded to a square and resized.
   */
  public static PreprocessConfig onevisionDefaults(
      int size, List<AnyResolution.Resolution> pinpoints) {
    return new PreprocessConfig(
        Size.exact(size, size),
        size,
        size,
        SIGLIP_MEAN,
        SIGLIP_STD,
        1.0 / 255,
        false,
        true,
        false,
        true,
        true,
        pinpoints,
        true);
  }

  /** Whether images are cut into tiles (LlavaNextImageProcessor, LlavaOnevisionImageProcessor). */
  public boolean tilesImages() {
    return !imageGridPinpoints.isEmpty();
  }

  /**
   * Whether an image among {@code imagesInPrompt} is cut into tiles: always for a tiling processor,
   * except LlavaOnevisionImageProcessor's image of a prompt with several.
   */
  public boolean tilesImageAmong(int imagesInPrompt) {
    return tilesImages() && (!tilesLoneImagesOnly || imagesInPrompt == 1);
  }

  /**
   * The side the whole image is squashed to for the base tile: {@code shortest_edge}, or the
   * smaller of height and width.
   */
  public int baseTileSide() {
    return size.keepsAspectRatio() ? size.shortestEdge() : Math.min(size.height(), size.width());
  }

  /**
   * SiglipImageProcessor for a SigLIP tower of input side {@code size}: a bicubic resize straight
   * to {@code size x size}, whatever the aspect ratio, then rescale and normalise with mean and
   * standard deviation 0.5; no padding and no crop.
   */
  public static PreprocessConfig siglipDefaults(int size) {
    return new PreprocessConfig(
        Size.exact(size, size),
        size,
        size,
        SIGLIP_MEAN,
        SIGLIP_STD,
        1.0 / 255,
        false,
        true,
        false,
        true,
        true);
  }

  /**
   * Reads a checkpoint's {@code preprocessor_config.json} ({@link PreprocessorConfigFile#read}),
   * falling back to {@link #clipDefaults(int)} when the file does not exist.
   *
   * @param visionImageSize the tower's {@code image_size}; the crop (or SigLIP's resize) must
   *     produce it
   * @throws IllegalArgumentException naming the key when the file asks for something this
   *     preprocessor does not do or its output does not fit the tower
   * @throws UncheckedIOException when the file exists but cannot be read or parsed
   */
  public static PreprocessConfig load(Path preprocessorConfigJson, int visionImageSize) {
    return PreprocessorConfigFile.read(preprocessorConfigJson, visionImageSize);
  }

  /** This configuration with LLaVA's pad-to-square step switched on or off. */
  public PreprocessConfig withPadToSquare(boolean pad) {
    return new PreprocessConfig(
        size,
        cropHeight,
        cropWidth,
        imageMean,
        imageStd,
        rescaleFactor,
        pad,
        doResize,
        doCenterCrop,
        doRescale,
        doNormalize,
        imageGridPinpoints,
        tilesLoneImagesOnly);
  }

  /** LLaVA's padding colour: {@code int(mean * 255)} per channel, 122, 116, 104 for CLIP. */
  public int[] padColour() {
    int[] colour = new int[3];
    for (int c = 0; c < 3; c++) {
      colour[c] = (int) (imageMean[c] * 255);
    }
    return colour;
  }

  @Override
  public double[] imageMean() {
    return imageMean.clone();
  }

  @Override
  public double[] imageStd() {
    return imageStd.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PreprocessConfig p
        && size.equals(p.size)
        && cropHeight == p.cropHeight
        && cropWidth == p.cropWidth
        && Arrays.equals(imageMean, p.imageMean)
        && Arrays.equals(imageStd, p.imageStd)
        && Double.compare(rescaleFactor, p.rescaleFactor) == 0
        && padToSquare == p.padToSquare
        && doResize == p.doResize
        && doCenterCrop == p.doCenterCrop
        && doRescale == p.doRescale
        && doNormalize == p.doNormalize
        && imageGridPinpoints.equals(p.imageGridPinpoints)
        && tilesLoneImagesOnly == p.tilesLoneImagesOnly;
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(
        new Object[] {
          size,
          cropHeight,
          cropWidth,
          Arrays.hashCode(imageMean),
          Arrays.hashCode(imageStd),
          rescaleFactor,
          padToSquare,
          doResize,
          doCenterCrop,
          doRescale,
          doNormalize,
          imageGridPinpoints,
          tilesLoneImagesOnly
        });
  }

  @Override
  public String toString() {
    return "PreprocessConfig[size="
        + size
        + ", crop="
        + cropHeight
        + "x"
        + cropWidth
        + ", mean="
        + Arrays.toString(imageMean)
        + ", std="
        + Arrays.toString(imageStd)
        + ", rescaleFactor="
        + rescaleFactor
        + ", padToSquare="
        + padToSquare
        + ", doResize="
        + doResize
        + ", doCenterCrop="
        + doCenterCrop
        + ", doRescale="
        + doRescale
        + ", doNormalize="
        + doNormalize
        + (imageGridPinpoints.isEmpty() ? "" : ", imageGridPinpoints=" + imageGridPinpoints)
        + (tilesLoneImagesOnly ? ", tilesLoneImagesOnly" : "")
        + "]";
  }

  private static void positive(String key, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(key + " must be positive, got " + value);
    }
  }

  private static double[] threeChannels(String key, double[] values) {
    if (values == null || values.length != 3) {
      throw new IllegalArgumentException(
          key + " must have 3 values (RGB), got " + Arrays.toString(values));
    }
    return values.clone();
  }
}
