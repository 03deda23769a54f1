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

  /** The id of this request, made on first use. */
  public static String requestId(RoutingContext ctx) {
    String id = ctx.get("requestId");
    if (id == null) {
      id = RequestIds.next();
      ctx.put("requestId", id);
    }
    return id;
  }
}
