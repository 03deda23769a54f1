package io.llavaserve.engine.image;

import io.llavaserve.engine.image.ImageException.Reason;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes an uploaded PNG, JPEG, GIF (first frame), BMP or WebP into 8-bit RGB with the pixel
 * values Pillow's {@code Image.open(...).convert("RGB")} gives, JPEGs turned upright by their EXIF
 * orientation as {@code ImageOps.exif_transpose} does.
 *
 * <p>Limits are enforced in order, each before any work the next step would cost: the encoded size,
 * then the width and height read from the header, and only then the pixels. Decoding is CPU-bound
 * and blocking; call it off the event loop.
 */
public final class ImageDecoder {

  private ImageDecoder() {}

  /**
   * Decodes {@code bytes}.
   *
   * @throws ImageException with {@link Reason#EMPTY}, {@link Reason#TOO_MANY_BYTES}, {@link
   *     Reason#UNSUPPORTED_FORMAT}, {@link Reason#TOO_MANY_PIXELS} or {@link Reason#CORRUPT}
   */
  public static RgbImage decode(byte[] bytes, ImageLimits limits) throws ImageException {
    if (bytes == null || bytes.length == 0) {
      throw new ImageException(Reason.EMPTY, "image is empty (0 bytes)");
    }
    if (bytes.length > limits.maxBytes()) {
      throw new ImageException(
          Reason.TOO_MANY_BYTES,
          "image has " + bytes.length + " bytes, limit is " + limits.maxBytes());
    }
    ImageFormat format =
        ImageFormat.sniff(bytes)
            .orElseThrow(
                () ->
                    new ImageException(
                        Reason.UNSUPPORTED_FORMAT,
                        "image format not recognised; supported formats are PNG, JPEG, GIF, BMP"
                            + " and WebP"));
    checkRiffLength(format, bytes);
    ImageReader reader = readerFor(format);
    List<String> truncation = new ArrayList<>();
    // JPEG readers, like libjpeg, only warn about missing data and fill the rest with gray;
    // Pillow refuses such a file ("image file is truncated"), and so do we.
    reader.addIIOReadWarningListener(
        (source, warning) -> {
          String w = warning.toLowerCase(Locale.ROOT);
          if (w.contains("premature end") || w.contains("truncated")) {
            truncation.add(warning);
          }
        });
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
      reader.setInput(in, true, true);
      int width = reader.getWidth(0);
      int height = reader.getHeight(0);
      checkPixels(format, width, height, limits);
      BufferedImage decoded = reader.read(0);
      if (!truncation.isEmpty()) {
        throw new ImageException(
            Reason.CORRUPT, format + " image is truncated: " + truncation.get(0));
      }
      RgbImage rgb = RasterToRgb.convert(decoded);
      return format == ImageFormat.JPEG
          ? ExifOrientation.apply(rgb, ExifOrientation.read(bytes))
          : rgb;
    } catch (IOException | RuntimeException e) {
      // Readers report bad data as IIOException or, for some inconsistencies, as unchecked
      // exceptions (index out of bounds in a palette, negative sizes); both mean a corrupt file.
      throw new ImageException(
          Reason.CORRUPT,
          "cannot decode " + format + " image: " + (e.getMessage() != null ? e.getMessage() : e),
          e);
    } finally {
      reader.dispose();
    }
  }

  /**
   * A WebP file states its own length in the RIFF header. TwelveMonkeys decodes a truncated
   * lossless stream without complaint, so the length is checked here.
   */
  private static void checkRiffLength(ImageFormat format, byte[] bytes) throws ImageException {
    if (format != ImageFormat.WEBP) {
      return;
    }
    long declared =
        8
            + ((bytes[4] & 0xffL)
                | (bytes[5] & 0xffL) << 8
                | (bytes[6] & 0xffL) << 16
                | (bytes[7] & 0xffL) << 24);
    if (declared > bytes.length) {
      throw new ImageException(
          Reason.CORRUPT,
          "WEBP image is truncated: header declares " + declared + " bytes, got " + bytes.length);
    }
  }

  private static void checkPixels(ImageFormat format, int width, int height, ImageLimits limits)
      throws ImageException {
    if (width <= 0 || height <= 0) {
      throw new ImageException(
          Reason.CORRUPT, format + " header gives a size of " + width + " x " + height);
    }
    long pixels = (long) width * height;
    if (pixels > limits.maxPixels()) {
      throw new ImageException(
          Reason.TOO_MANY_PIXELS,
          "image has "
              + pixels
              + " pixels ("
              + width
              + " x "
              + height
              + "), limit is "
              + limits.maxPixels());
    }
  }

  private static ImageReader readerFor(ImageFormat format) throws ImageException {
    Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format.imageIoName);
    if (!readers.hasNext()) {
      throw new ImageException(
          Reason.UNSUPPORTED_FORMAT, "no " + format + " decoder is installed in this server");
    }
    return readers.next();
  }
}
