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
 * A llava_onevision checkpoint served over HTTP: a chat request's lone image counts the positions
 * its size gives (its map reduced past 9 tiles' worth) and a repeat is served from the prefix
 * cache; the images of a request with several count one tile and a newline each, as transformers'
 * processor counts them; {@code /tokenize} counts the same positions; and the model, with the Qwen2
 * tokenizer make-tiny writes, stops on {@code <|im_end|>} and on generation_config.json's other EOS
 * id {@code <|endoftext|>}.
 */
class LlavaOnevisionServingTest {

  private static final int IMAGE = TinySpec.IMAGE_TOKEN_INDEX;

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
    JsonObject tokenized = PromptCounts.tokenize(server, messages);
    JsonObject body = greedy(messages);

    HttpResponse<String> first = server.post("/v1/chat/completions", body.encode());
    HttpResponse<String> again = server.post("/v1/chat/completions", body.encode());

    assertEquals(200, first.statusCode(), first.body());
    JsonObject usage = new JsonObject(first.body()).getJsonObject("usage");
    // 240 x 300: a 4 x 5 grid, its 16 x 20 map reduced to 10 x 13: 16 + 130 + 10.
    assertEquals(List.of(156), PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), IMAGE));
    assertEquals(tokenized.getInteger("count"), usage.getInteger("prompt_tokens"), first.body());
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
    JsonObject tokenized = PromptCounts.tokenize(server, messages);

    HttpResponse<String> r = server.post("/v1/chat/completions", greedy(messages).encode());

    assertEquals(200, r.statusCode(), r.body());
    JsonObject usage = new JsonObject(r.body()).getJsonObject("usage");
    // The 300 x 240 image alone fills 156 positions; beside another, 17 as that one does.
    assertEquals(List.of(17, 17), PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), IMAGE));
    assertEquals(tokenized.getInteger("count"), usage.getInteger("prompt_tokens"), r.body());
  }

  @Test
  void tokenizeCountsALoneImageBySizeAndEachOfSeveralAsOneTileAsTheChatUsageDoes()
      throws Exception {
    LlavaConfig config;
    try (Checkpoint ckpt = Checkpoint.open(dir.resolve("onevision"))) {
      config = ckpt.config();
    }
    int[][] sizes = {{1, 1}, {60, 60}, {400, 17}, {17, 400}, {640, 480}, {1000, 1000}};
    for (int[] a : sizes) {
      JsonObject alone = messages(image(a[0], a[1]), text("What is this?"));
      JsonObject tokenized = PromptCounts.tokenize(server, alone);

      assertEquals(
          PromptCounts.chatPromptTokens(server, alone),
          tokenized.getInteger("count"),
          a[0] + " x " + a[1]);
      assertEquals(
          List.of(config.imagePositions(a[1], a[0])),
          PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), IMAGE));
    }
    JsonObject two = messages(image(1000, 1000), text("And?"), image(17, 400));
    JsonObject tokenized = PromptCounts.tokenize(server, two);
    assertEquals(PromptCounts.chatPromptTokens(server, two), tokenized.getInteger("count"));
    assertEquals(List.of(17, 17), PromptCounts.imageRuns(tokenized.getJsonArray("tokens"), IMAGE));
  }

  @Test
  void theServedModelStopsOnImEnd() throws Exception {
    // The written Qwen2 tokenizer's EOS: a sampled <|im_end|> ends the answer, as in ChatML.
    JsonObject tokenized =
        PromptCounts.tokenize(server, new JsonObject().put("prompt", "<|im_end|>"));
    int imEnd = tokenized.getJsonArray("tokens").getInteger(0);
    JsonObject body =
        messages(text("Say something."))
            .put("max_tokens", 5)
            .put("temperature", 0)
            .put("logit_bias", new JsonObject().put(Integer.toString(imEnd), 100));

    HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());

    assertEquals(200, r.statusCode(), r.body());
    assertEquals(1, tokenized.getInteger("count"), "<|im_end|> is one added token");
    JsonObject choice = new JsonObject(r.body()).getJsonArray("choices").getJsonObject(0);
    assertEquals("stop", choice.getString("finish_reason"), r.body());
    assertEquals("", choice.getJsonObject("message").getString("content"), r.body());
  }

  @Test
  void itAlsoStopsOnTheOtherEosIdOfGenerationConfigUnlessEosIsIgnored() throws Exception {
    // make-tiny's Qwen2 folders list <|im_end|> and <|endoftext|> in generation_config.json, as
    // Qwen2 checkpoints do; the tokenizer's EOS is <|im_end|> alone.
    JsonObject tokenized =
        PromptCounts.tokenize(server, new JsonObject().put("prompt", "<|endoftext|>"));
    assertEquals(1, tokenized.getInteger("count"), tokenized.encode());
    int endOfText = tokenized.getJsonArray("tokens").getInteger(0);
    JsonObject body =
        messages(text("Say something."))
            .put("max_tokens", 4)
            .put("temperature", 0)
            .put("logit_bias", new JsonObject().put(Integer.toString(endOfText), 100));

    HttpResponse<String> stopped = server.post("/v1/chat/completions", body.encode());
    HttpResponse<String> ignored =
        server.post("/v1/chat/completions", body.copy().put("ignore_eos", true).encode());

    assertEquals(200, stopped.statusCode(), stopped.body());
    JsonObject choice = new JsonObject(stopped.body()).getJsonArray("choices").getJsonObject(0);
    assertEquals("stop", choice.getString("finish_reason"), stopped.body());
    assertEquals("", choice.getJsonObject("message").getString("content"), stopped.body());
    assertEquals(
        1, new JsonObject(stopped.body()).getJsonObject("usage").getInteger("completion_tokens"));
    JsonObject going = new JsonObject(ignored.body());
    assertEquals(
        "length", going.getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
    assertEquals(4, going.getJsonObject("usage").getInteger("completion_tokens"));
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
