package io.llavaserve.web.media;

import java.util.Base64;
import java.util.Locale;

/**
 * An image sent inline as {@code data:image/png;base64,...}. Only base64 image payloads are
 * accepted; every refusal is a {@link MediaFetchException} with status 400 naming the problem, or
 * 413 when the payload is over the byte cap (checked before decoding).
 */
public final class DataUri {

  private final String mediaType;
  private final byte[] bytes;

  private DataUri(String mediaType, byte[] bytes) {
    this.mediaType = mediaType;
    this.bytes = bytes;
  }

  /** Parses a data URI without a size cap (the request body limit still applies). */
  public static DataUri parse(String uri) {
    return parse(uri, Long.MAX_VALUE);
  }

  /** Parses a data URI whose decoded image may be at most {@code maxBytes} long. */
  public static DataUri parse(String uri, long maxBytes) {
    if (uri == null || !uri.regionMatches(true, 0, "data:", 0, 5)) {
      throw MediaFetchException.refused(
          "image_url must be a data: URI (data:image/png;base64,...)");
    }
    int comma = uri.indexOf(',');
    if (comma < 0) {
      throw MediaFetchException.refused("image_url data URI has no ',' before the data");
    }
    String[] header = uri.substring(5, comma).split(";");
    String mediaType = header[0].trim().toLowerCase(Locale.ROOT);
    if (mediaType.isEmpty()) {
      throw MediaFetchException.refused(
          "image_url data URI has no media type; expected e.g. data:image/png;base64,...");
    }
    if (!mediaType.startsWith("image/") || mediaType.length() == "image/".length()) {
      throw MediaFetchException.refused(
          "image_url data URI media type '" + mediaType + "' is not an image type (image/...)");
    }
    boolean base64 = false;
    for (int i = 1; i < header.length; i++) {
      base64 |= header[i].trim().equalsIgnoreCase("base64");
    }
    if (!base64) {
      throw MediaFetchException.refused(
          "image_url data URI must be base64-encoded (data:" + mediaType + ";base64,...)");
    }
    String payload = stripWhitespace(uri.substring(comma + 1));
    if (payload.isEmpty()) {
      throw MediaFetchException.refused("image_url data URI has no image data after ','");
    }
    // 4 base64 characters carry 3 bytes; refuse before decoding
    long decodedEstimate = payload.length() / 4 * 3L;
    if (decodedEstimate - 2 > maxBytes) {
      throw new MediaFetchException(
          413, "image_url data URI image is larger than the limit of " + maxBytes + " bytes");
    }
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(payload);
    } catch (IllegalArgumentException e) {
      throw MediaFetchException.refused(
          "image_url data URI is not valid base64: " + e.getMessage());
    }
    if (bytes.length > maxBytes) {
      throw new MediaFetchException(
          413, "image_url data URI image is larger than the limit of " + maxBytes + " bytes");
    }
    return new DataUri(mediaType, bytes);
  }

  /** The declared media type, lower case, e.g. {@code image/png}. */
  public String mediaType() {
    return mediaType;
  }

  /** The decoded image bytes (not copied: do not modify). */
  public byte[] bytes() {
    return bytes;
  }

  private static String stripWhitespace(String s) {
    StringBuilder out = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
      if (space && out == null) {
        out = new StringBuilder(s.length()).append(s, 0, i);
      } else if (!space && out != null) {
        out.append(c);
      }
    }
    return out == null ? s : out.toString();
  }
}
