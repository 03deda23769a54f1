package io.llavaserve.engine.image;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;

/**
 * The accepted container formats, recognised by their signature bytes rather than by asking every
 * registered ImageIO reader: some readers (WBMP, TGA) claim almost any input.
 */
enum ImageFormat {
  PNG("png"),
  JPEG("jpeg"),
  GIF("gif"),
  BMP("bmp"),
  WEBP("webp");

  private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  /** The format name ImageIO registers readers under. */
  final String imageIoName;

  ImageFormat(String imageIoName) {
    this.imageIoName = imageIoName;
  }

  static Optional<ImageFormat> sniff(byte[] b) {
    if (startsWith(b, PNG_SIGNATURE)) {
      return Optional.of(PNG);
    }
    if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
      return Optional.of(JPEG);
    }
    if (startsWith(b, ascii("GIF87a")) || startsWith(b, ascii("GIF89a"))) {
      return Optional.of(GIF);
    }
    if (startsWith(b, ascii("BM"))) {
      return Optional.of(BMP);
    }
    if (b.length >= 12
        && startsWith(b, ascii("RIFF"))
        && Arrays.equals(b, 8, 12, ascii("WEBP"), 0, 4)) {
      return Optional.of(WEBP);
    }
    return Optional.empty();
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static boolean startsWith(byte[] b, byte[] prefix) {
    return b.length >= prefix.length
        && Arrays.equals(b, 0, prefix.length, prefix, 0, prefix.length);
  }
}
