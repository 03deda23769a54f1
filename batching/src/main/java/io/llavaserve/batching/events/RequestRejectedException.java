package io.llavaserve.batching.events;

/**
 * A request the engine can never run as asked: it names the field to change, the limit it broke and
 * the value it had, so a front end answers with a client error without reading the message (the web
 * layer: 400 with {@code field} as the OpenAI {@code param}). Beside {@link OverloadedException},
 * which says "not now" where this says "not like this".
 *
 * <p>An {@link IllegalArgumentException} for callers that only care that the request was bad; code
 * that maps errors to answers must match this type, never its supertype, so an internal bug stays
 * an internal error.
 */
public final class RequestRejectedException extends IllegalArgumentException {

  private final String field;
  private final long limit;
  private final long value;

  /**
   * @param field the request field to change, in its wire name ({@code prompt}, {@code max_tokens},
   *     {@code images})
   * @param limit the bound it broke
   * @param value what the request had
   * @param message for people: starts with the field and says what fits
   */
  public RequestRejectedException(String field, long limit, long value, String message) {
    super(message);
    if (field == null || field.isEmpty()) {
      throw new IllegalArgumentException("a rejection names its field");
    }
    this.field = field;
    this.limit = limit;
    this.value = value;
  }

  public String field() {
    return field;
  }

  public long limit() {
    return limit;
  }

  public long value() {
    return value;
  }
}
