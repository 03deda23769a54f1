package io.llavaserve.engine.image;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.AnyResolution.Resolution;
import java.util.ArrayList;
import java.util.List;

/**
 * LlavaNextImageProcessor's {@code get_image_patches}, in 8-bit RGB as it works (before any rescale
 * or normalisation): pick the pinpoint resolution for the image ({@link
 * AnyResolution#bestResolution}), resize into it keeping the aspect ratio (Pillow's bicubic, the
 * free side rounded up), pad it centred to the pinpoint with zeros, cut tiles of the crop size
 * row-major; the whole image resized straight to the base side comes first. Each tile then goes
 * through the processor's usual steps; so the padding is 0 before normalisation, {@code -mean /
 * std} after it, exactly as transformers pads its uint8 array.
 */
final class AnyResolutionTiling {

  private AnyResolutionTiling() {}

  /** The base tile, then the grid tiles row-major. */
  static List<RgbImage> tiles(RgbImage image, PreprocessConfig config) {
    int tile = config.cropHeight();
    Resolution best =
        AnyResolution.bestResolution(config.imageGridPinpoints(), image.height(), image.width());
    Resolution inner = AnyResolution.resizedInside(image.height(), image.width(), best);
    RgbImage resized = PillowResize.bicubic(image, inner.width(), inner.height());
    RgbImage padded = padCentred(resized, best.height(), best.width());
    List<RgbImage> out = new ArrayList<>();
    int side = config.baseTileSide();
    out.add(PillowResize.bicubic(image, side, side));
    for (int y = 0; y < best.height(); y += tile) {
      for (int x = 0; x < best.width(); x += tile) {
        out.add(
            crop(
                padded, x, y, Math.min(tile, best.width() - x), Math.min(tile, best.height() - y)));
      }
    }
    return out;
  }

  /**
   * {@code _pad_for_patching}: zeros around {@code image} to {@code height x width}, the image at
   * {@code ((height - h) // 2, (width - w) // 2)}, the odd pixel after it.
   */
  static RgbImage padCentred(RgbImage image, int height, int width) {
    if (image.height() == height && image.width() == width) {
      return image;
    }
    int top = (height - image.height()) / 2;
    int left = (width - image.width()) / 2;
    byte[] dst = new byte[height * width * 3];
    int row = image.width() * 3;
    for (int y = 0; y < image.height(); y++) {
      System.arraycopy(image.rgb(), y * row, dst, ((top + y) * width + left) * 3, row);
    }
    return new RgbImage(width, height, dst);
  }

  /** The {@code w x h} pixels at {@code (x, y)}. */
  static RgbImage crop(RgbImage image, int x, int y, int w, int h) {
    byte[] dst = new byte[w * h * 3];
    for (int r = 0; r < h; r++) {
      System.arraycopy(image.rgb(), ((y + r) * image.width() + x) * 3, dst, r * w * 3, w * 3);
    }
    return new RgbImage(w, h, dst);
  }
}
