package io.llavaserve.engine.image;

/**
 * The EXIF orientation tag (0x0112) of a JPEG and the transpose that undoes it, as Pillow's {@code
 * ImageOps.exif_transpose} applies it: the camera stores the sensor's rows and tags how to turn
 * them upright.
 */
final class ExifOrientation {

  private static final int TAG_ORIENTATION = 0x0112;
  private static final int TYPE_SHORT = 3;

  private ExifOrientation() {}

  /**
   * The orientation (1..8) in the first Exif APP1 segment of a JPEG, or 1 when there is none or it
   * is malformed: a broken tag must not make an otherwise good image unreadable.
   */
  static int read(byte[] jpeg) {
    int pos = 2; // after SOI
    while (pos + 4 <= jpeg.length) {
      if ((jpeg[pos] & 0xff) != 0xff) {
        return 1;
      }
      int marker = jpeg[pos + 1] & 0xff;
      if (marker == 0xff) { // fill byte
        pos++;
        continue;
      }
      if (marker == 0xda || marker == 0xd9) { // start of scan or end of image: no more metadata
        return 1;
      }
      int length = u16(jpeg, pos + 2, false);
      int body = pos + 4;
      int end = pos + 2 + length;
      if (length < 2 || end > jpeg.length) {
        return 1;
      }
      if (marker == 0xe1 && isExif(jpeg, body, end)) {
        return fromTiff(jpeg, body + 6, end);
      }
      pos = end;
    }
    return 1;
  }

  private static boolean isExif(byte[] b, int from, int end) {
    byte[] magic = {'E', 'x', 'i', 'f', 0, 0};
    if (end - from < magic.length) {
      return false;
    }
    for (int i = 0; i < magic.length; i++) {
      if (b[from + i] != magic[i]) {
        return false;
      }
    }
    return true;
  }

  /** Reads IFD0 of the TIFF structure in {@code b[tiff, end)}. */
  private static int fromTiff(byte[] b, int tiff, int end) {
    if (end - tiff < 8) {
      return 1;
    }
    boolean little;
    if (b[tiff] == 'I' && b[tiff + 1] == 'I') {
      little = true;
    } else if (b[tiff] == 'M' && b[tiff + 1] == 'M') {
      little = false;
    } else {
      return 1;
    }
    long ifd = u32(b, tiff + 4, little);
    if (ifd < 8 || tiff + ifd + 2 > end) {
      return 1;
    }
    int dir = (int) (tiff + ifd);
    int entries = u16(b, dir, little);
    for (int i = 0; i < entries; i++) {
      int e = dir + 2 + i * 12;
      if (e + 12 > end) {
        return 1;
      }
      if (u16(b, e, little) == TAG_ORIENTATION && u16(b, e + 2, little) == TYPE_SHORT) {
        int value = u16(b, e + 8, little);
        return value >= 1 && value <= 8 ? value : 1;
      }
    }
    return 1;
  }

  private static int u16(byte[] b, int at, boolean little) {
    int b0 = b[at] & 0xff;
    int b1 = b[at + 1] & 0xff;
    return little ? b0 | (b1 << 8) : (b0 << 8) | b1;
  }

  private static long u32(byte[] b, int at, boolean little) {
    long lo = u16(b, little ? at : at + 2, little);
    long hi = u16(b, little ? at + 2 : at, little);
    return (hi << 16) | lo;
  }

  /**
   * Turns an image stored with {@code orientation} upright. Orientations 5 to 8 swap width and
   * height.
   */
  static RgbImage apply(RgbImage in, int orientation) {
    if (orientation <= 1 || orientation > 8) {
      return in;
    }
    int w = in.width();
    int h = in.height();
    boolean swap = orientation >= 5;
    int outW = swap ? h : w;
    int outH = swap ? w : h;
    byte[] src = in.rgb();
    byte[] dst = new byte[src.length];
    for (int y = 0; y < outH; y++) {
      for (int x = 0; x < outW; x++) {
        // (sx, sy): the stored pixel that lands at (x, y) once upright.
        int sx;
        int sy;
        switch (orientation) {
          case 2 -> { // mirror left-right
            sx = w - 1 - x;
            sy = y;
          }
          case 3 -> { // rotate 180
            sx = w - 1 - x;
            sy = h - 1 - y;
          }
          case 4 -> { // mirror top-bottom
            sx = x;
            sy = h - 1 - y;
          }
          case 5 -> { // transpose
            sx = y;
            sy = x;
          }
          case 6 -> { // rotate 90 clockwise
            sx = y;
            sy = h - 1 - x;
          }
          case 7 -> { // transverse
            sx = w - 1 - y;
            sy = h - 1 - x;
          }
          default -> { // 8: rotate 90 counter-clockwise
            sx = w - 1 - y;
            sy = x;
          }
        }
        System.arraycopy(src, (sy * w + sx) * 3, dst, (y * outW + x) * 3, 3);
      }
    }
    return new RgbImage(outW, outH, dst);
  }
}
