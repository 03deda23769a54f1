package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

/**
 * What a server says a chat prompt costs, two ways: {@code /tokenize} of the messages and the
 * {@code usage.prompt_tokens} of a chat completion with the same messages.
 */
final class PromptCounts {

  private PromptCounts() {}

  /** One user message of {@code parts} (text and image_url parts). */
  static JsonObject userMessage(JsonObject... parts) {
    JsonArray content = new JsonArray();
    for (JsonObject p : parts) {
      content.add(p);
    }
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)));
  }

  static JsonObject text(String text) {
    return new JsonObject().put("type", "text").put("text", text);
  }

  /** An image_url part holding a PNG data URI of that size. */
  static JsonObject image(int width, int height) throws Exception {
    return new JsonObject()
        .put("type", "image_url")
        .put("image_url", new JsonObject().put("url", TestServer.pngDataUri(width, height)));
  }

  /** {@code /tokenize}'s answer for {@code body}, which must be a 200. */
  static JsonObject tokenize(TestServer server, JsonObject body) throws Exception {
    HttpResponse<String> r = server.post("/tokenize", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  /** The usage.prompt_tokens of a one-token greedy chat completion of {@code messages}. */
  static int chatPromptTokens(TestServer server, JsonObject messages) throws Exception {
    JsonObject body = messages.copy().put("max_tokens", 1).put("temperature", 0);
    HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body()).getJsonObject("usage").getInteger("prompt_tokens");
  }

  /** The lengths of the runs of {@code imageTokenId} in {@code tokens}, in order. */
  static List<Integer> imageRuns(JsonArray tokens, int imageTokenId) {
    List<Integer> runs = new ArrayList<>();
    int run = 0;
    for (int i = 0; i <= tokens.size(); i++) {
      if (i < tokens.size() && tokens.getInteger(i) == imageTokenId) {
        run++;
      } else if (run > 0) {
        runs.add(run);
        run = 0;
      }
    }
    return runs;
  }
}
