package io.llavaserve.engine.image;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Any bytes through every decoder path (PNG, JPEG, GIF, BMP, WebP and what they claim to be) and
 * the limits: an image or an {@link ImageException}, never another exception, a hang or memory
 * beyond the limits. The seeds replay in every test run; {@code JAZZER_FUZZ=1} fuzzes (see the
 * README's "Fuzzing").
 */
class ImageDecoderFuzzTest {

  /** Small limits, so that a header claiming a huge image is refused before it is allocated. */
  private static final ImageLimits LIMITS = new ImageLimits(1 << 20, 1 << 20);

  @FuzzTest(maxDuration = "10m")
  void decode(byte[] encoded) {
    try {
      RgbImage image = ImageDecoder.decode(encoded, LIMITS);
      long pixels = (long) image.width() * image.height();
      if (pixels > LIMITS.maxPixels() || pixels <= 0) {
        throw new AssertionError("decoded " + image.width() + " x " + image.height());
      }
    } catch (ImageException expected) {
      // refused with a reason: what a client gets as a 400
    }
  }
}
