package io.llavaserve.web.openai;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

/**
 * vLLM's {@code /tokenize} and {@code /detokenize} as values: a request body in, the response body
 * out (or an {@link io.llavaserve.web.errors.ApiError}). The model of this process answers them
 * ({@link LocalTokenization}); at a cluster gateway an engine of the named model does ({@code
 * cluster.RemoteTokenization}). {@link TokenizeHandler} puts either on the routes.
 */
public interface Tokenization {

  /**
   * {@code {"prompt": "...", "add_special_tokens": true}} or {@code {"messages": [...],
   * "add_generation_prompt": true}} -> {@code {"count", "max_model_len", "tokens", "token_strs"}}.
   */
  Future<JsonObject> tokenize(JsonObject body);

  /** {@code {"tokens": [ids]}} -> {@code {"prompt": "text"}}, special tokens kept. */
  Future<JsonObject> detokenize(JsonObject body);

  /**
   * The {@code model} a body names; null when it names none.
   *
   * @throws io.llavaserve.web.errors.ApiError 400 when it is not a string
   */
  static String model(JsonObject body) {
    return JsonFields.string(body, "model", "model");
  }
}
