package io.llavaserve.web.errors;

import io.vertx.core.json.JsonObject;

/**
 * A failure the client can act on, answered with OpenAI's error body {@code
 * {"error":{"message","type","param","code"}}} and an HTTP status.
 */
public final class ApiError extends RuntimeException {

  private final int status;
  private final String type;
  private final String param;
  private final String code;
  private final int retryAfterSeconds;

  private ApiError(
      int status, String type, String param, String code, String message, int retryAfterSeconds) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** 400: {@code param} names the field to fix. */
  public static ApiError badRequest(String param, String message) {
    return new ApiError(400, "invalid_request_error", param, null, message, 0);
  }

  public static ApiError unauthorized(String message) {
    return new ApiError(401, "invalid_request_error", null, "invalid_api_key", message, 0);
  }

  public static ApiError notFound(String param, String code, String message) {
    return new ApiError(404, "invalid_request_error", param, code, message, 0);
  }

  public static ApiError methodNotAllowed(String message) {
    return new ApiError(405, "invalid_request_error", null, "method_not_allowed", message, 0);
  }

  /** 409: the resource is in a state that does not allow the operation. */
  public static ApiError conflict(String message) {
    return new ApiError(409, "invalid_request_error", null, "conflict", message, 0);
  }

  /** 413: a body or an image over a configured limit. */
  public static ApiError tooLarge(String param, String message) {
    return new ApiError(413, "invalid_request_error", param, "request_too_large", message, 0);
  }

  /** 502 / 504: fetching something the request named (an image URL) failed upstream. */
  public static ApiError upstream(int status, String param, String message) {
    if (status != 502 && status != 504) {
      throw new IllegalArgumentException("upstream errors are 502 or 504, got " + status);
    }
    return new ApiError(status, "upstream_error", param, "upstream_error", message, 0);
  }

  public static ApiError overloaded(String message, int retryAfterSeconds) {
    return new ApiError(429, "rate_limit_error", null, "overloaded", message, retryAfterSeconds);
  }

  public static ApiError unavailable(String message) {
    return new ApiError(503, "service_unavailable", null, "service_unavailable", message, 0);
  }

  /**
   * 507: the server cannot store what the request asked it to keep (its data directory is full or
   * read-only); the message names the cause.
   */
  public static ApiError storage(String message) {
    return new ApiError(507, "storage_error", null, "storage_error", message, 0);
  }

  /**
   * 503 {@code engine_unavailable}: the cluster engine that ran (or was to run) a request left; the
   * request may be retried, another engine answers it.
   */
  public static ApiError engineUnavailable(String message) {
    return new ApiError(503, "service_unavailable", null, "engine_unavailable", message, 1);
  }

  /**
   * Whether this is an {@link #engineUnavailable} error: the request did not run to its end on a
   * cluster engine (none was there, or its engine left), so sending it again may succeed.
   */
  public boolean isEngineUnavailable() {
    return "engine_unavailable".equals(code);
  }

  /** The error another node answered with: its status, body and retry hint, unchanged. */
  public static ApiError fromJson(int status, JsonObject body, int retryAfterSeconds) {
    JsonObject e = body.getJsonObject("error", new JsonObject());
    return new ApiError(
        status,
        e.getString("type"),
        e.getString("param"),
        e.getString("code"),
        e.getString("message"),
        retryAfterSeconds);
  }

  public static ApiError internal(String requestId) {
    return new ApiError(
        500,
        "internal_error",
        null,
        "internal_error",
        "internal error while serving request " + requestId + "; it was logged on the server",
        0);
  }

  /**
   * A 400 from the message of {@code SamplingParams}' own validation, which starts with the wire
   * name of the field ("temperature must be in [0, 2.0], got 3.0", "stop: every stop string ...").
   * Only for a failure of that one call on client values; the engine's refusals arrive typed.
   */
  public static ApiError fromValidation(IllegalArgumentException e) {
    String m = e.getMessage() == null ? "invalid request" : e.getMessage();
    int end = 0;
    while (end < m.length() && (Character.isLetterOrDigit(m.charAt(end)) || m.charAt(end) == '_')) {
      end++;
    }
    String param = end > 0 && end < m.length() ? m.substring(0, end) : null;
    return badRequest(param, m);
  }

  public int status() {
    return status;
  }

  /** The machine-readable code, e.g. {@code engine_unavailable}; may be null. */
  public String code() {
    return code;
  }

  public String param() {
    return param;
  }

  public int retryAfterSeconds() {
    return retryAfterSeconds;
  }

  public JsonObject toJson() {
    return new JsonObject()
        .put(
            "error",
            new JsonObject()
                .put("message", getMessage())
                .put("type", type)
                .put("param", param)
                .put("code", code));
  }
}
