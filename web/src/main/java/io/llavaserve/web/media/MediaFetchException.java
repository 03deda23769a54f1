package io.llavaserve.web.media;

/**
 * An image URL that was refused or could not be fetched, with the HTTP status the server should
 * answer: 400 for a refused URL, host or address (or an upstream 4xx), 413 for an image over the
 * byte cap, 502 for an upstream failure, 504 for the time cap.
 */
public final class MediaFetchException extends RuntimeException {

  private final int status;

  public MediaFetchException(int status, String message) {
    super(message);
    this.status = status;
  }

  public MediaFetchException(int status, String message, Throwable cause) {
    super(message, cause);
    this.status = status;
  }

  static MediaFetchException refused(String message) {
    return new MediaFetchException(400, message);
  }

  /** The HTTP status to answer with. */
  public int status() {
    return status;
  }

  /** The request field at fault, for OpenAI's error body. */
  public String param() {
    return "image_url";
  }
}
