package io.llavaserve.web.openai;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * {@link Tokenization} with the model of this process: its tokenizer and chat template, on the
 * worker pool. As vLLM answers for a multimodal model, the images of chat messages are fetched,
 * decoded and preprocessed as the chat endpoint does it (the same limits and errors), and each
 * image's placeholder is repeated for every position the image fills in this model (its size
 * decides for llava_next and llava_onevision), so {@code count} is the {@code usage.prompt_tokens}
 * of a chat request with the same messages.
 */
public final class LocalTokenization implements Tokenization {

  private final Vertx vertx;
  private final ServedModel served;
  private final RequestParser parser;
  private final PromptPreparer preparer;

  /**
   * @param fetcher how http(s) image URLs are fetched: the chat endpoint's own
   */
  public LocalTokenization(
      Vertx vertx, ServedModel served, RequestLimits limits, ImageUrlFetcher fetcher) {
    this.vertx = vertx;
    this.served = served;
    this.parser = new RequestParser(limits);
    this.preparer = new PromptPreparer(vertx, served.model(), served.engine().validator(), fetcher);
  }

  @Override
  public Future<JsonObject> tokenize(JsonObject body) {
    OpenAiRequest chat;
    boolean generationPrompt;
    try {
      checkModel(body);
      if (Boolean.TRUE.equals(JsonFields.bool(body, "return_token_strs"))) {
        throw ApiError.badRequest(
            "return_token_strs", "return_token_strs: token strings are not supported");
      }
      chat = body.getValue("messages") != null ? parser.chat(body) : null;
      generationPrompt =
          chat == null || !Boolean.FALSE.equals(JsonFields.bool(body, "add_generation_prompt"));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    Future<int[]> ids =
        chat == null
            ? vertx.executeBlocking(() -> promptIds(body), false)
            : preparer
                .expandedChatIds(chat, generationPrompt)
                .recover(
                    e ->
                        Future.failedFuture(
                            e instanceof RequestRejectedException r
                                ? chat.endpoint().rejection(r)
                                : e));
    return ids.map(
        tokens -> {
          JsonArray array = new JsonArray();
          for (int id : tokens) {
            array.add(id);
          }
          return new JsonObject()
              .put("count", tokens.length)
              .put("max_model_len", served.spec().maxModelLen())
              .put("tokens", array)
              .putNull("token_strs");
        });
  }

  @Override
  public Future<JsonObject> detokenize(JsonObject body) {
    int[] ids;
    try {
      checkModel(body);
      Object raw = body.getValue("tokens");
      if (raw == null) {
        throw ApiError.badRequest("tokens", "tokens is required");
      }
      if (!(raw instanceof JsonArray a)) {
        throw JsonFields.wrongType("tokens", "an array of token ids", raw);
      }
      int vocab = served.model().tokenizer().vocabSize();
      ids = new int[a.size()];
      for (int i = 0; i < ids.length; i++) {
        Object v = a.getValue(i);
        if (!(v instanceof Integer id) || id < 0 || id >= vocab) {
          throw ApiError.badRequest(
              "tokens",
              "tokens[" + i + "] must be a token id in [0, " + (vocab - 1) + "], got " + v);
        }
        ids[i] = id;
      }
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return vertx
        .executeBlocking(() -> served.model().tokenizer().decode(ids, false), false)
        .map(text -> new JsonObject().put("prompt", text));
  }

  private int[] promptIds(JsonObject body) {
    String prompt = JsonFields.string(body, "prompt", "prompt");
    if (prompt == null) {
      throw ApiError.badRequest("prompt", "prompt or messages is required");
    }
    Boolean special = JsonFields.bool(body, "add_special_tokens");
    return Boolean.FALSE.equals(special)
        ? served.model().tokenizer().encode(prompt, false)
        : served.model().rawPrompt(prompt).ids();
  }

  private void checkModel(JsonObject body) {
    served.requireNamed(Tokenization.model(body));
  }
}
