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
 * A llava_onevision checkpoint served over HTTP: a chat request's lone image counts the positions
 * its size gives (its map reduced past 9 tiles' worth) and a repeat is served from the prefix
 * cache; the images of a request with several count one tile and a newline each, as transformers'
 * processor counts them.
 */
class LlavaOnevisionServingTest {

  @TempDir static Path dir;
  private static TestServer server;

  @BeforeAll
  static void start() throws Exception {
    server = TestServer.on(dir).checkpoint("onevision", TinySpec.onevision()).start();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void aLoneImageCountsItsReducedMapAndARepeatHitsThePrefixCache() throws Exception {
    JsonObject messages = messages(image(300, 240), text("What is this?"));
    int ids = tokenCount(messages);
    JsonObject body = greedy(messages);

    HttpResponse<String> first = server.post("/v1/chat/completions", body.encode());
    HttpResponse<String> again = server.post("/v1/chat/completions", body.encode());

    assertEquals(200, first.statusCode(), first.body());
    JsonObject usage = new JsonObject(first.body()).getJsonObject("usage");
    // 240 x 300: a 4 x 5 grid, its 16 x 20 map reduced to 10 x 13: 16 + 130 + 10.
    assertEquals(ids - 1 + 156, usage.getInteger("prompt_tokens"), first.body());
    assertEquals(3, usage.getInteger("completion_tokens"));
    JsonObject repeat = new JsonObject(again.body()).getJsonObject("usage");
    assertEquals(usage.getInteger("prompt_tokens"), repeat.getInteger("prompt_tokens"));
    int cached = repeat.getJsonObject("prompt_tokens_details").getInteger("cached_tokens");
    assertTrue(cached >= usage.getInteger("prompt_tokens") - 16, again.body());
    assertEquals(message(first), message(again));
  }

  @Test
  void eachImageOfARequestWithSeveralCountsOneTileAndANewline() throws Exception {
    JsonObject messages = messages(image(300, 240), text("And this one?"), image(60, 200));
    int ids = tokenCount(messages);

    HttpResponse<String> r = server.post("/v1/chat/completions", greedy(messages).encode());

    assertEquals(200, r.statusCode(), r.body());
    JsonObject usage = new JsonObject(r.body()).getJsonObject("usage");
    // The 300 x 240 image alone fills 156 positions; beside another, 17 as that one does.
    assertEquals(ids - 2 + 2 * (16 + 1), usage.getInteger("prompt_tokens"), r.body());
  }

  private static int tokenCount(JsonObject messages) throws Exception {
    // One image token per image before expansion.
    HttpResponse<String> r = server.post("/tokenize", messages.encode());
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body()).getInteger("count");
  }

  private static JsonObject messages(JsonObject... parts) {
    JsonArray content = new JsonArray();
    for (JsonObject p : parts) {
      content.add(p);
    }
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)));
  }

  private static JsonObject greedy(JsonObject messages) {
    return messages.copy().put("max_tokens", 3).put("ignore_eos", true).put("temperature", 0);
  }

  private static JsonObject message(HttpResponse<String> r) {
    return new JsonObject(r.body())
        .getJsonArray("choices")
        .getJsonObject(0)
        .getJsonObject("message");
  }

  private static JsonObject text(String text) {
    return new JsonObject().put("type", "text").put("text", text);
  }

  private static JsonObject image(int width, int height) throws Exception {
    return new JsonObject()
        .put("type", "image_url")
        .put("image_url", new JsonObject().put("url", TestServer.pngDataUri(width, height)));
  }
}
