package io.llavaserve.engine.image;

/**
 * An image the server refuses, with a {@link Reason} a handler can map to a status code and a
 * message that names the limit and the offending value.
 */
public final class ImageException extends Exception {

  private static final long serialVersionUID = 1L;

  /** Why an image was refused. */
  public enum Reason {
    /** The encoded bytes exceed {@link ImageLimits#maxBytes()}. */
    TOO_MANY_BYTES,
    /** The header's width times height exceeds {@link ImageLimits#maxPixels()}. */
    TOO_MANY_PIXELS,
    /** Not PNG, JPEG, GIF, BMP or WebP. */
    UNSUPPORTED_FORMAT,
    /** A supported format whose data cannot be decoded (truncated, inconsistent). */
    CORRUPT,
    /** No bytes at all. */
    EMPTY
  }

  private final Reason reason;

  public ImageException(Reason reason, String message) {
    super(message);
    this.reason = reason;
  }

  public ImageException(Reason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
