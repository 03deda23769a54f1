package io.llavaserve.web.cluster;

import io.vertx.core.Handler;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** {@code GET /v1/models} at a gateway: every model an engine of the cluster serves. */
final class ClusterModelsHandler implements Handler<RoutingContext> {

  private final EngineTable table;
  private final long created = System.currentTimeMillis() / 1000;

  ClusterModelsHandler(EngineTable table) {
    this.table = table;
  }

  @Override
  public void handle(RoutingContext ctx) {
    JsonArray data = new JsonArray();
    table
        .models()
        .forEach(
            (id, maxModelLen) ->
                data.add(
                    new JsonObject()
                        .put("id", id)
                        .put("object", "model")
                        .put("created", created)
                        .put("owned_by", "llava-serve")
                        .put("max_model_len", maxModelLen)));
    ctx.response()
        .putHeader("Content-Type", "application/json")
        .end(new JsonObject().put("object", "list").put("data", data).encode());
  }
}
