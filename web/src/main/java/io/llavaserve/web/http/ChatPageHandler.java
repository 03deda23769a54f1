package io.llavaserve.web.http;

import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.StaticHandler;

/**
 * {@code GET /} and {@code GET /static/*}: the chat page, files from {@code webroot/} on the
 * classpath. Open to everyone: the page asks for the API key itself and sends it on the WebSocket.
 * Its content security policy lets it load and reach nothing but this server.
 */
public final class ChatPageHandler implements Handler<RoutingContext> {

  static final String POLICY =
      "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none';"
          + " form-action 'none'; frame-ancestors 'none'";

  private final StaticHandler files =
      StaticHandler.create("webroot").setIndexPage("index.html").setDirectoryListing(false);

  @Override
  public void handle(RoutingContext ctx) {
    ctx.response()
        .putHeader("Content-Security-Policy", POLICY)
        .putHeader("X-Content-Type-Options", "nosniff");
    files.handle(ctx);
  }
}
