package io.llavaserve.web.openai;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** {@code GET /v1/models}: the one model this server serves. */
public final class ModelsHandler {

  private final ServedModel served;
  private final long created = System.currentTimeMillis() / 1000;

  public ModelsHandler(ServedModel served) {
    this.served = served;
  }

  public void list(RoutingContext ctx) {
    JsonObject model =
        new JsonObject()
            .put("id", served.id())
            .put("object", "model")
            .put("created", created)
            .put("owned_by", "llava-serve")
            .put("max_model_len", served.spec().maxModelLen());
    ctx.response()
        .putHeader("Content-Type", "application/json")
        .end(
            new JsonObject()
                .put("object", "list")
                .put("data", new JsonArray().add(model))
                .encode());
  }
}
