package io.llavaserve.web.openai;

import io.llavaserve.web.errors.ApiError;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * {@link Tokenization} with the model of this process: its tokenizer and chat template, on the
 * worker pool. Images in messages count as their one image token each, as in the prompt before the
 * image expands to its rows.
 */
public final class LocalTokenization implements Tokenization {

  private final Vertx vertx;
  private final ServedModel served;
  private final RequestParser parser;

  public LocalTokenization(Vertx vertx, ServedModel served, RequestLimits limits) {
    this.vertx = vertx;
    this.served = served;
    this.parser = new RequestParser(limits);
  }

  @Override
  public Future<JsonObject> tokenize(JsonObject body) {
    try {
      checkModel(body);
      if (Boolean.TRUE.equals(JsonFields.bool(body, "return_token_strs"))) {
        throw ApiError.badRequest(
            "return_token_strs", "return_token_strs: token strings are not supported");
      }
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return vertx
        .executeBlocking(() -> ids(body), false)
        .map(
            ids -> {
              JsonArray tokens = new JsonArray();
              for (int id : ids) {
                tokens.add(id);
              }
              return new JsonObject()
                  .put("count", ids.length)
                  .put("max_model_len", served.spec().maxModelLen())
                  .put("tokens", tokens)
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
    served.requireNamed(Tokenization.model(body));
  }
}
