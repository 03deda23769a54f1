package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ChatCompletionsTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  static JsonObject chat(String content, int maxTokens) {
    return new JsonObject()
        .put("model", TestServer.MODEL_ID)
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)))
        .put("max_tokens", maxTokens)
        .put("temperature", 0);
  }

  @Test
  void plainChatCompletion() throws Exception {
    HttpResponse<String> r =
        server.get().post("/v1/chat/completions", chat("Hello there", 8).encode());
    assertEquals(200, r.statusCode(), r.body());
    JsonObject o = new JsonObject(r.body());
    assertEquals("chat.completion", o.getString("object"));
    assertTrue(o.getString("id").startsWith("chatcmpl-"));
    assertEquals(TestServer.MODEL_ID, o.getString("model"));
    JsonObject choice = o.getJsonArray("choices").getJsonObject(0);
    assertEquals("assistant", choice.getJsonObject("message").getString("role"));
    assertTrue(List.of("stop", "length").contains(choice.getString("finish_reason")));
    JsonObject usage = o.getJsonObject("usage");
    assertTrue(usage.getInteger("prompt_tokens") > 3);
    assertTrue(
        usage.getInteger("completion_tokens") >= 1 && usage.getInteger("completion_tokens") <= 8);
    assertEquals(
        usage.getInteger("prompt_tokens") + usage.getInteger("completion_tokens"),
        usage.getInteger("total_tokens"));
    assertTrue(usage.getJsonObject("prompt_tokens_details").containsKey("cached_tokens"));
  }

  @Test
  void greedyAnswersAreDeterministicAndMaxTokensIsHonoured() throws Exception {
    JsonObject body =
        chat(
                "Count with me: one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen",
                6)
            .put("ignore_eos", true);
    JsonObject a = new JsonObject(server.get().post("/v1/chat/completions", body.encode()).body());
    JsonObject b = new JsonObject(server.get().post("/v1/chat/completions", body.encode()).body());
    assertEquals(6, a.getJsonObject("usage").getInteger("completion_tokens"));
    assertEquals("length", a.getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
    assertEquals(
        a.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"),
        b.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"));
    // the second run of the same prompt finds its prefix cached
    assertTrue(
        b.getJsonObject("usage").getJsonObject("prompt_tokens_details").getInteger("cached_tokens")
            > 0);
  }

  @Test
  void streamingUsesExactSseFraming() throws Exception {
    JsonObject body =
        chat("Tell me a story", 5)
            .put("ignore_eos", true)
            .put("stream", true)
            .put("stream_options", new JsonObject().put("include_usage", true));
    HttpResponse<String> r = server.get().post("/v1/chat/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
    String raw = r.body();
    assertTrue(raw.endsWith("data: [DONE]\n\n"), raw);
    String[] events = raw.split("\n\n", -1);
    assertEquals("", events[events.length - 1]); // every event ends with a blank line
    List<JsonObject> chunks = new ArrayList<>();
    for (int i = 0; i < events.length - 2; i++) {
      assertTrue(events[i].startsWith("data: {"), events[i]);
      assertFalse(events[i].contains("\n"), events[i]);
      chunks.add(new JsonObject(events[i].substring("data: ".length())));
    }
    assertEquals("data: [DONE]", events[events.length - 2]);

    JsonObject first = chunks.get(0);
    assertEquals("chat.completion.chunk", first.getString("object"));
    assertEquals(
        "assistant",
        first.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("role"));
    String id = first.getString("id");
    StringBuilder text = new StringBuilder();
    for (JsonObject c : chunks.subList(1, chunks.size() - 2)) {
      assertEquals(id, c.getString("id"));
      JsonObject choice = c.getJsonArray("choices").getJsonObject(0);
      assertNull(choice.getString("finish_reason"));
      text.append(choice.getJsonObject("delta").getString("content"));
    }
    JsonObject finish = chunks.get(chunks.size() - 2).getJsonArray("choices").getJsonObject(0);
    assertEquals("length", finish.getString("finish_reason"));
    JsonObject usageChunk = chunks.get(chunks.size() - 1);
    assertTrue(usageChunk.getJsonArray("choices").isEmpty());
    assertEquals(5, usageChunk.getJsonObject("usage").getInteger("completion_tokens"));

    // the stream carries the same text as the whole answer
    JsonObject whole =
        new JsonObject(
            server
                .get()
                .post(
                    "/v1/chat/completions",
                    chat("Tell me a story", 5).put("ignore_eos", true).encode())
                .body());
    assertEquals(
        whole
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message")
            .getString("content"),
        text.toString());
  }

  @Test
  void streamWithoutIncludeUsageHasNoUsageChunk() throws Exception {
    HttpResponse<String> r =
        server
            .get()
            .post(
                "/v1/chat/completions",
                chat("Hi", 3).put("ignore_eos", true).put("stream", true).encode());
    String[] events = r.body().split("\n\n");
    JsonObject last = new JsonObject(events[events.length - 2].substring(6));
    assertEquals(
        "length", last.getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
    assertFalse(r.body().contains("\"usage\""));
  }

  @Test
  void chatWithBase64PngImage() throws Exception {
    JsonArray parts =
        new JsonArray()
            .add(new JsonObject().put("type", "text").put("text", "What is in the picture?"))
            .add(
                new JsonObject()
                    .put("type", "image_url")
                    .put("image_url", new JsonObject().put("url", TestServer.pngDataUri(40, 30))));
    JsonObject body =
        new JsonObject()
            .put(
                "messages",
                new JsonArray().add(new JsonObject().put("role", "user").put("content", parts)))
            .put("max_tokens", 4);
    HttpResponse<String> r = server.get().post("/v1/chat/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    JsonObject usage = new JsonObject(r.body()).getJsonObject("usage");
    int rows = server.get().served().spec().rowsPerImage();
    JsonObject textOnly = chat("What is in the picture?", 4);
    int textPrompt =
        new JsonObject(server.get().post("/v1/chat/completions", textOnly.encode()).body())
            .getJsonObject("usage")
            .getInteger("prompt_tokens");
    assertTrue(usage.getInteger("prompt_tokens") >= textPrompt + rows - 1, r.body());
  }

  @Test
  void logprobsInOpenAiShape() throws Exception {
    JsonObject body =
        chat("Hello", 3).put("logprobs", true).put("top_logprobs", 2).put("ignore_eos", true);
    JsonObject o = new JsonObject(server.get().post("/v1/chat/completions", body.encode()).body());
    JsonArray content =
        o.getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("logprobs")
            .getJsonArray("content");
    assertEquals(3, content.size());
    JsonObject t = content.getJsonObject(0);
    assertTrue(t.getDouble("logprob") <= 0);
    assertTrue(t.containsKey("token") && t.getJsonArray("bytes") != null);
    assertEquals(2, t.getJsonArray("top_logprobs").size());
  }

  @Test
  void logitBiasForcesAToken() throws Exception {
    int[] ids = io.llavaserve.engine.tokenizer.LlamaTokenizer.bundledLlama().encode("yes", false);
    assertEquals(1, ids.length, "'yes' is one token");
    JsonObject forced =
        chat("Hello", 3)
            .put("ignore_eos", true)
            .put("logit_bias", new JsonObject().put(Integer.toString(ids[0]), 100));
    JsonObject o =
        new JsonObject(server.get().post("/v1/chat/completions", forced.encode()).body());
    assertEquals(
        "yes yes yes",
        o.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"),
        o.encode());
  }

  @Test
  void stopTokenIdsEndTheAnswerLikeEos() throws Exception {
    int[] ids = io.llavaserve.engine.tokenizer.LlamaTokenizer.bundledLlama().encode("yes", false);
    JsonObject forced =
        chat("Hello", 3)
            .put("logit_bias", new JsonObject().put(Integer.toString(ids[0]), 100))
            .put("stop_token_ids", new JsonArray().add(ids[0]));

    JsonObject o =
        new JsonObject(server.get().post("/v1/chat/completions", forced.encode()).body());

    JsonObject choice = o.getJsonArray("choices").getJsonObject(0);
    assertEquals("stop", choice.getString("finish_reason"), o.encode());
    assertEquals("", choice.getJsonObject("message").getString("content"), o.encode());
    assertEquals(1, o.getJsonObject("usage").getInteger("completion_tokens"), o.encode());

    HttpResponse<String> outside =
        server
            .get()
            .post(
                "/v1/chat/completions",
                chat("Hello", 3).put("stop_token_ids", new JsonArray().add(1 << 24)).encode());
    assertEquals(400, outside.statusCode(), outside.body());
    assertEquals(
        "stop_token_ids",
        new JsonObject(outside.body()).getJsonObject("error").getString("param"),
        outside.body());
  }

  @Test
  void requestIdsAreEchoedOrMadeOnEveryResponse() throws Exception {
    HttpResponse<String> given =
        server
            .get()
            .post("/v1/chat/completions", chat("Hi", 1).encode(), "X-Request-Id", "trace-42");
    assertEquals("trace-42", given.headers().firstValue("X-Request-Id").orElse(null));
    assertEquals("chatcmpl-trace-42", new JsonObject(given.body()).getString("id"));

    HttpResponse<String> made = server.get().post("/v1/chat/completions", chat("Hi", 1).encode());
    String id = made.headers().firstValue("X-Request-Id").orElseThrow();
    assertEquals("chatcmpl-" + id, new JsonObject(made.body()).getString("id"));

    // Errors and other routes carry one too; an unusable client id is replaced.
    HttpResponse<String> missing =
        server.get().post("/v1/nope", "{}", "X-Request-Id", "x".repeat(200));
    assertEquals(404, missing.statusCode());
    String replaced = missing.headers().firstValue("X-Request-Id").orElseThrow();
    assertTrue(!replaced.isEmpty() && replaced.length() <= 128, replaced);
  }

  @Test
  void tokenizeAndDetokenizeInVllmsShapes() throws Exception {
    var tokenizer = io.llavaserve.engine.tokenizer.LlamaTokenizer.bundledLlama();
    int[] body = tokenizer.encode("Hello world", false);
    JsonObject t =
        new JsonObject(
            server
                .get()
                .post("/tokenize", new JsonObject().put("prompt", "Hello world").encode())
                .body());
    assertEquals(body.length + 1, t.getInteger("count"), t.encode());
    assertEquals(tokenizer.bosId(), t.getJsonArray("tokens").getInteger(0));
    for (int i = 0; i < body.length; i++) {
      assertEquals(body[i], t.getJsonArray("tokens").getInteger(i + 1));
    }
    assertTrue(t.getInteger("max_model_len") > 0);

    JsonObject plain =
        new JsonObject(
            server
                .get()
                .post(
                    "/tokenize",
                    new JsonObject()
                        .put("prompt", "Hello world")
                        .put("add_special_tokens", false)
                        .encode())
                .body());
    assertEquals(body.length, plain.getInteger("count"));
    JsonObject text =
        new JsonObject(
            server
                .get()
                .post(
                    "/detokenize",
                    new JsonObject().put("tokens", plain.getJsonArray("tokens")).encode())
                .body());
    assertEquals("Hello world", text.getString("prompt"));

    // Messages go through the chat template; an image fills its 16 positions, as in the model.
    JsonArray parts =
        new JsonArray()
            .add(
                new JsonObject()
                    .put("type", "image_url")
                    .put("image_url", new JsonObject().put("url", TestServer.pngDataUri(8, 8))))
            .add(new JsonObject().put("type", "text").put("text", "What is this?"));
    JsonObject messages =
        new JsonObject()
            .put(
                "messages",
                new JsonArray().add(new JsonObject().put("role", "user").put("content", parts)));
    JsonArray open =
        new JsonObject(server.get().post("/tokenize", messages.encode()).body())
            .getJsonArray("tokens");
    JsonArray closed =
        new JsonObject(
                server
                    .get()
                    .post("/tokenize", messages.copy().put("add_generation_prompt", false).encode())
                    .body())
            .getJsonArray("tokens");
    assertTrue(open.size() > closed.size(), open + " vs " + closed);
    assertEquals(List.of(16), PromptCounts.imageRuns(open, 32000), open.encode());

    HttpResponse<String> bad =
        server
            .get()
            .post("/detokenize", new JsonObject().put("tokens", new JsonArray().add(-1)).encode());
    assertEquals(400, bad.statusCode());
    assertEquals("tokens", new JsonObject(bad.body()).getJsonObject("error").getString("param"));
    HttpResponse<String> otherModel =
        server
            .get()
            .post("/tokenize", new JsonObject().put("model", "nope").put("prompt", "x").encode());
    assertEquals(404, otherModel.statusCode());
    assertEquals(
        "model_not_found",
        new JsonObject(otherModel.body()).getJsonObject("error").getString("code"));
    HttpResponse<String> none = server.get().post("/tokenize", "{}");
    assertEquals(400, none.statusCode());
    assertEquals("prompt", new JsonObject(none.body()).getJsonObject("error").getString("param"));
  }

  @Test
  void tokenizeCountsTheChatPromptAsTheChatUsageDoesWithImagesOfAnySize() throws Exception {
    JsonObject[] requests = {
      PromptCounts.userMessage(PromptCounts.image(8, 8), PromptCounts.text("What is this?")),
      PromptCounts.userMessage(
          PromptCounts.text("Compare"),
          PromptCounts.image(300, 40),
          PromptCounts.text("with"),
          PromptCounts.image(17, 400)),
      PromptCounts.userMessage(PromptCounts.text("No image at all.")),
    };
    for (JsonObject messages : requests) {
      JsonObject t = PromptCounts.tokenize(server.get(), messages);

      assertEquals(
          PromptCounts.chatPromptTokens(server.get(), messages), t.getInteger("count"), t.encode());
      assertEquals(t.getJsonArray("tokens").size(), t.getInteger("count"));
    }
    // A CLIP tower fills image_seq_length positions whatever the image's size.
    JsonArray tokens = PromptCounts.tokenize(server.get(), requests[1]).getJsonArray("tokens");
    assertEquals(List.of(16, 16), PromptCounts.imageRuns(tokens, 32000), tokens.encode());
  }

  @Test
  void completionsPlainAndStreaming() throws Exception {
    JsonObject body =
        new JsonObject()
            .put("prompt", "Once upon a time")
            .put("max_tokens", 4)
            .put("temperature", 0)
            .put("ignore_eos", true);
    HttpResponse<String> r = server.get().post("/v1/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    JsonObject o = new JsonObject(r.body());
    assertEquals("text_completion", o.getString("object"));
    assertEquals("length", o.getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
    assertEquals(4, o.getJsonObject("usage").getInteger("completion_tokens"));
    String text = o.getJsonArray("choices").getJsonObject(0).getString("text");

    HttpResponse<String> st =
        server.get().post("/v1/completions", body.copy().put("stream", true).encode());
    assertTrue(st.body().endsWith("data: [DONE]\n\n"));
    StringBuilder streamed = new StringBuilder();
    for (String e : st.body().split("\n\n")) {
      if (!e.equals("data: [DONE]")) {
        JsonObject c = new JsonObject(e.substring(6));
        assertEquals("text_completion", c.getString("object"));
        streamed.append(c.getJsonArray("choices").getJsonObject(0).getString("text"));
      }
    }
    assertEquals(text, streamed.toString());
  }

  @Test
  void modelsHealthAndReady() throws Exception {
    JsonObject models = new JsonObject(server.get().get("/v1/models").body());
    assertEquals("list", models.getString("object"));
    assertEquals(TestServer.MODEL_ID, models.getJsonArray("data").getJsonObject(0).getString("id"));
    assertEquals(200, server.get().get("/health").statusCode());
    HttpResponse<String> ready = server.get().get("/ready");
    assertEquals(200, ready.statusCode());
    assertEquals("ready", new JsonObject(ready.body()).getString("status"));
  }
}
