package io.llavaserve.web.openai;

import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.engine.ModelSpec;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.web.errors.ApiError;

/**
 * The model a server answers with.
 *
 * @param id the id clients name in {@code model} and {@code /v1/models} lists
 * @param model the loaded checkpoint (tokenizer, template, image preprocessing)
 * @param engine the running serving core
 */
public record ServedModel(String id, LlavaModel model, LlavaEngine engine) {

  /** The spec the running engine admits requests with. */
  public ModelSpec spec() {
    return engine.spec();
  }

  /**
   * Checks the {@code model} a request names (null: any).
   *
   * @throws ApiError 404 {@code model_not_found} when it is not this model
   */
  public void requireNamed(String model) {
    if (model != null && !model.equals(id)) {
      throw ApiError.notFound(
          "model",
          "model_not_found",
          "The model `" + model + "` does not exist; this server serves `" + id + "`");
    }
  }
}
