package io.llavaserve.web.errors;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.engine.image.ImageException;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Turns failures into OpenAI error bodies {@code {"error":{"message","type","param","code"}}}. Only
 * typed failures become client errors: an {@link ApiError} as it is, an {@link OverloadedException}
 * 429, a {@link RequestRejectedException} 400 with its field as {@code param}, an {@link
 * ImageException} 400 or 413. Anything else is a bug of ours, whatever its type (an internal {@code
 * IllegalArgumentException} included): a 500 whose body gives the request id, its stack logged
 * under that id.
 */
public final class ErrorResponses {

  private static final Logger LOG = Logger.getLogger(ErrorResponses.class.getName());

  private ErrorResponses() {}

  /** The error a failure is answered with; unexpected ones become a logged 500. */
  public static ApiError toApiError(Throwable t, String requestId) {
    if (t instanceof ApiError e) {
      return e;
    }
    if (t instanceof OverloadedException e) {
      return ApiError.overloaded(e.getMessage(), Math.max(1, e.retryAfterSeconds()));
    }
    if (t instanceof RequestRejectedException e) {
      return ApiError.badRequest(e.field(), e.getMessage());
    }
    if (t instanceof ImageException e) {
      return image(e, "messages");
    }
    LOG.log(Level.SEVERE, "request " + requestId + " failed", t);
    return ApiError.internal(requestId);
  }

  /**
   * Logs a request that failed inside the engine while it ran (a {@code Finished} event with reason
   * {@code error}), under its request id; it is answered with {@link ApiError#internal}.
   */
  public static void engineFailure(String requestId, String error) {
    LOG.severe("request " + requestId + " failed in the engine: " + error);
  }

  /** An image the decoder refused: 413 over a size limit, else 400. */
  public static ApiError image(ImageException e, String param) {
    return switch (e.reason()) {
      case TOO_MANY_BYTES, TOO_MANY_PIXELS ->
          ApiError.tooLarge(param, param + ": " + e.getMessage());
      default -> ApiError.badRequest(param, param + ": " + e.getMessage());
    };
  }

  public static void send(RoutingContext ctx, Throwable t) {
    send(ctx.response(), toApiError(t, requestId(ctx)));
  }

  public static void send(HttpServerResponse response, ApiError e) {
    if (response.ended() || response.closed()) {
      return;
    }
    if (response.headWritten()) {
      // A stream already under way: end it; the client sees a truncated stream.
      response.end();
      return;
    }
    response.setStatusCode(e.status()).putHeader("Content-Type", "application/json");
    if (e.retryAfterSeconds() > 0) {
      response.putHeader("Retry-After", Integer.toString(e.retryAfterSeconds()));
    }
    response.end(e.toJson().encode());
  }

  /** The header that carries a request's id in and out, as load balancers and vLLM use it. */
  public static final String REQUEST_ID_HEADER = "X-Request-Id";

  /** Longest client-given request id kept; a longer or non-printable one is replaced. */
  static final int MAX_REQUEST_ID_LENGTH = 128;

  /**
   * The id of this request: the client's {@code X-Request-Id} when it sent a usable one (1 to 128
   * printable ASCII characters), else a new one; made on first use and echoed in the response's
   * {@code X-Request-Id} header.
   */
  public static String requestId(RoutingContext ctx) {
    String id = ctx.get("requestId");
    if (id == null) {
      String given = ctx.request().getHeader(REQUEST_ID_HEADER);
      id = usable(given) ? given : RequestIds.next();
      ctx.put("requestId", id);
      if (!ctx.response().headWritten()) {
        ctx.response().putHeader(REQUEST_ID_HEADER, id);
      }
    }
    return id;
  }

  private static boolean usable(String id) {
    if (id == null || id.isEmpty() || id.length() > MAX_REQUEST_ID_LENGTH) {
      return false;
    }
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (c < 0x21 || c > 0x7E) {
        return false;
      }
    }
    return true;
  }
}
