package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinySpec;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A llava_next checkpoint served over HTTP: each image of a chat request counts the positions its
 * own size gives in the usage, and the same request again is served from the prefix cache.
 */
class LlavaNextServingTest {

  @TempDir static Path dir;
  private static TestServer server;

  @BeforeAll
  static void start() throws Exception {
    server = TestServer.on(dir).checkpoint("next", TinySpec.next()).start();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void eachImageCountsItsOwnSizesPositionsAndARepeatHitsThePrefixCache() throws Exception {
    JsonArray parts =
        new JsonArray()
            .add(image(40, 30))
            .add(new JsonObject().put("type", "text").put("text", "And this one?"))
            .add(image(60, 200));
    JsonObject messages =
        new JsonObject()
            .put(
                "messages",
                new JsonArray().add(new JsonObject().put("role", "user").put("content", parts)));
    // One image token per image before expansion.
    int ids =
        new JsonObject(server.post("/tokenize", messages.encode()).body()).getInteger("count");
    JsonObject body =
        messages.copy().put("max_tokens", 3).put("ignore_eos", true).put("temperature", 0);

    HttpResponse<String> first = server.post("/v1/chat/completions", body.encode());
    HttpResponse<String> again = server.post("/v1/chat/completions", body.encode());

    assertEquals(200, first.statusCode(), first.body());
    JsonObject usage = new JsonObject(first.body()).getJsonObject("usage");
    // 40 x 30 fits 1 x 2 tiles (44 positions), 60 x 200 fits 3 x 1 (76), as the processor counts.
    assertEquals(ids - 2 + 44 + 76, usage.getInteger("prompt_tokens"), first.body());
    assertEquals(3, usage.getInteger("completion_tokens"));
    JsonObject repeat = new JsonObject(again.body()).getJsonObject("usage");
    assertEquals(usage.getInteger("prompt_tokens"), repeat.getInteger("prompt_tokens"));
    int cached = repeat.getJsonObject("prompt_tokens_details").getInteger("cached_tokens");
    assertTrue(cached >= usage.getInteger("prompt_tokens") - 16, again.body());
    assertEquals(
        new JsonObject(first.body())
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message"),
        new JsonObject(again.body())
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message"));
  }

  private static JsonObject image(int width, int height) throws Exception {
    return new JsonObject()
        .put("type", "image_url")
        .put("image_url", new JsonObject().put("url", TestServer.pngDataUri(width, height)));
  }
}
