package io.llavaserve.web.http;

import io.llavaserve.web.metrics.ServerMetrics;
import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;

/** {@code GET /metrics}: Prometheus text, open like the health checks. */
public final class MetricsHandler implements Handler<RoutingContext> {

  private final ServerMetrics metrics;

  public MetricsHandler(ServerMetrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public void handle(RoutingContext ctx) {
    ctx.response().putHeader("Content-Type", ServerMetrics.CONTENT_TYPE).end(metrics.scrape());
  }
}
