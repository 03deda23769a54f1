package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.LlavaConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
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
  void tokenizeCountsEachImageByItsSizeAsTheChatUsageDoes() throws Exception {
    int[][] sizes = {{1, 1}, {56, 56}, {400, 17}, {17, 400}, {640, 480}, {200, 60}};
    LlavaConfig config;
    try (Checkpoint ckpt = Checkpoint.open(dir.resolve("next"))) {
      config = ckpt.config();
    }
    for (int i = 0; i < sizes.length; i++) {
      int[] a = sizes[i];
      int[] b = sizes[(i + 1) % sizes.length];
      JsonObject messages =
          PromptCounts.userMessage(
              PromptCounts.image(a[0], a[1]),
              PromptCounts.text("and"),
              PromptCounts.image(b[0], b[1]));
      JsonObject tokenized = PromptCounts.tokenize(server, messages);

      assertEquals(
          PromptCounts.chatPromptTokens(server, messages),
          tokenized.getInteger("count"),
          a[0] + " x " + a[1] + " and " + b[0] + " x " + b[1]);
      assertEquals(
          List.of(config.imagePositions(a[1], a[0]), config.imagePositions(b[1], b[0])),
          PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), TinySpec.IMAGE_TOKEN_INDEX));
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
    JsonObject tokenized = PromptCounts.tokenize(server, messages);
    JsonObject body =
        messages.copy().put("max_tokens", 3).put("ignore_eos", true).put("temperature", 0);

    HttpResponse<String> first = server.post("/v1/chat/completions", body.encode());
    HttpResponse<String> again = server.post("/v1/chat/completions", body.encode());

    assertEquals(200, first.statusCode(), first.body());
    JsonObject usage = new JsonObject(first.body()).getJsonObject("usage");
    // 40 x 30 fits 1 x 2 tiles (44 positions), 60 x 200 fits 3 x 1 (76), as the processor counts;
    // /tokenize repeats each image's placeholder as often and counts what the usage counts.
    assertEquals(
        List.of(44, 76),
        PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), TinySpec.IMAGE_TOKEN_INDEX));
    assertEquals(tokenized.getInteger("count"), usage.getInteger("prompt_tokens"), first.body());
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
