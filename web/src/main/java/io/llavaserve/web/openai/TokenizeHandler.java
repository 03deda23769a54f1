package io.llavaserve.web.openai;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/**
 * vLLM's {@code POST /tokenize} and {@code POST /detokenize}, with its request and response shapes:
 * a prompt (or chat messages, through the chat template) to the ids the model would see, and ids
 * back to text. Images in messages count as their one image token each, as in the prompt before the
 * image expands to its rows. Tokenizing runs on the worker pool.
 */
public final class TokenizeHandler {

  private final Vertx vertx;
  private final ServedModel served;
  private final RequestParser parser;

  public TokenizeHandler(Vertx vertx, ServedModel served, RequestLimits limits) {
    this.vertx = vertx;
    this.served = served;
    this.parser = new RequestParser(limits);
  }

  /**
   * {@code {"prompt": "...", "add_special_tokens": true}} or {@code {"messages": [...],
   * "add_generation_prompt": true}} -> {@code {"count", "max_model_len", "tokens", "token_strs"}}.
   */
  public void tokenize(RoutingContext ctx) {
    JsonObject body;
    try {
      body = RequestParser.body(ctx.body().buffer());
      checkModel(body);
      if (Boolean.TRUE.equals(JsonFields.bool(body, "return_token_strs"))) {
        throw ApiError.badRequest(
            "return_token_strs", "return_token_strs: token strings are not supported");
      }
    } catch (RuntimeException e) {
      ErrorResponses.send(ctx, e);
      return;
    }
    vertx
        .executeBlocking(() -> ids(body), false)
        .onSuccess(
            ids -> {
              JsonArray tokens = new JsonArray();
              for (int id : ids) {
                tokens.add(id);
              }
              json(
                  ctx,
                  new JsonObject()
                      .put("count", ids.length)
                      .put("max_model_len", served.spec().maxModelLen())
                      .put("tokens", tokens)
                      .putNull("token_strs"));
            })
        .onFailure(e -> ErrorResponses.send(ctx, e));
  }

  /** {@code {"tokens": [ids]}} -> {@code {"prompt": "text"}}, special tokens kept. */
  public void detokenize(RoutingContext ctx) {
    int[] ids;
    try {
      JsonObject body = RequestParser.body(ctx.body().buffer());
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
      ErrorResponses.send(ctx, e);
      return;
    }
    vertx
        .executeBlocking(() -> served.model().tokenizer().decode(ids, false), false)
        .onSuccess(text -> json(ctx, new JsonObject().put("prompt", text)))
        .onFailure(e -> ErrorResponses.send(ctx, e));
  }

  private int[] ids(JsonObject body) {
    if (body.getValue("messages") != null) {
      Boolean generation = JsonFields.bool(body, "add_generation_prompt");
      OpenAiRequest request = parser.chat(body);
      return PromptPreparer.chatPrompt(served.model(), request, !Boolean.FALSE.equals(generation))
          .ids();
    }
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
    served.requireNamed(JsonFields.string(body, "model", "model"));
  }

  private static void json(RoutingContext ctx, JsonObject o) {
    ctx.response().putHeader("Content-Type", "application/json").end(o.encode());
  }
}
