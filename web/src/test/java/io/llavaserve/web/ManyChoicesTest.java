package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code n > 1} over HTTP on the tiny model: indices, usage, seeds, plain and streamed. */
class ManyChoicesTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  static JsonObject chat(int n, long seed) {
    return new JsonObject()
        .put("model", TestServer.MODEL_ID)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "user").put("content", "Name three colours")))
        .put("max_tokens", 6)
        .put("ignore_eos", true)
        .put("temperature", 1.5)
        .put("seed", seed)
        .put("n", n);
  }

  static JsonObject completion(int n, long seed) {
    return new JsonObject()
        .put("model", TestServer.MODEL_ID)
        .put("prompt", "Once upon a time")
        .put("max_tokens", 5)
        .put("ignore_eos", true)
        .put("temperature", 1.5)
        .put("seed", seed)
        .put("n", n);
  }

  static JsonObject post(String path, JsonObject body) throws Exception {
    HttpResponse<String> r = server.get().post(path, body.encode());
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  @Test
  void threeChatChoicesHaveTheirIndicesUsageOnceAndTheTextOfTheirSeedAlone() throws Exception {
    JsonObject o = post("/v1/chat/completions", chat(3, 40));
    JsonArray choices = o.getJsonArray("choices");
    assertEquals(3, choices.size());
    JsonObject usage = o.getJsonObject("usage");
    JsonObject single = post("/v1/chat/completions", chat(1, 40));
    assertEquals(
        single.getJsonObject("usage").getInteger("prompt_tokens"),
        usage.getInteger("prompt_tokens"));
    assertEquals(18, usage.getInteger("completion_tokens"));
    assertEquals(usage.getInteger("prompt_tokens") + 18, usage.getInteger("total_tokens"));
    for (int i = 0; i < 3; i++) {
      JsonObject c = choices.getJsonObject(i);
      assertEquals(i, c.getInteger("index"));
      assertEquals("length", c.getString("finish_reason"));
      JsonObject alone = post("/v1/chat/completions", chat(1, 40 + i));
      assertEquals(
          alone
              .getJsonArray("choices")
              .getJsonObject(0)
              .getJsonObject("message")
              .getString("content"),
          c.getJsonObject("message").getString("content"),
          "choice " + i + " must equal a single request with seed " + (40 + i));
    }
  }

  @Test
  void threeStreamedCompletionChoicesCarryTheirIndexAndOneUsageChunk() throws Exception {
    JsonObject body =
        completion(3, 7)
            .put("stream", true)
            .put("stream_options", new JsonObject().put("include_usage", true));
    HttpResponse<String> r = server.get().post("/v1/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    String raw = r.body();
    assertTrue(raw.endsWith("data: [DONE]\n\n"), raw);
    Map<Integer, StringBuilder> texts = new HashMap<>();
    Map<Integer, Integer> finishes = new HashMap<>();
    JsonObject usage = null;
    for (String event : raw.split("\n\n")) {
      if (event.equals("data: [DONE]")) {
        continue;
      }
      JsonObject chunk = new JsonObject(event.substring("data: ".length()));
      JsonArray choices = chunk.getJsonArray("choices");
      if (choices.isEmpty()) {
        usage = chunk.getJsonObject("usage");
        continue;
      }
      assertEquals(1, choices.size());
      JsonObject c = choices.getJsonObject(0);
      int index = c.getInteger("index");
      texts.computeIfAbsent(index, k -> new StringBuilder()).append(c.getString("text"));
      if (c.getString("finish_reason") != null) {
        finishes.merge(index, 1, Integer::sum);
      }
    }
    assertEquals(Map.of(0, 1, 1, 1, 2, 1), finishes);
    assertEquals(15, usage.getInteger("completion_tokens"));
    JsonObject whole = post("/v1/completions", completion(3, 7));
    assertEquals(15, whole.getJsonObject("usage").getInteger("completion_tokens"));
    assertEquals(
        usage.getInteger("prompt_tokens"),
        whole.getJsonObject("usage").getInteger("prompt_tokens"));
    for (int i = 0; i < 3; i++) {
      JsonObject c = whole.getJsonArray("choices").getJsonObject(i);
      assertEquals(i, c.getInteger("index"));
      assertEquals(c.getString("text"), texts.get(i).toString(), "choice " + i);
    }
  }

  @Test
  void nOutsideItsLimitsIsA400NamingN() throws Exception {
    for (int n : new int[] {0, 17}) {
      HttpResponse<String> r = server.get().post("/v1/completions", completion(n, 1).encode());
      assertEquals(400, r.statusCode(), r.body());
      assertEquals("n", new JsonObject(r.body()).getJsonObject("error").getString("param"));
    }
  }
}
