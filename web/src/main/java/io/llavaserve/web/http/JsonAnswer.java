package io.llavaserve.web.http;

import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.lifecycle.WholeAnswerListener;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;

/** An answer that did not stream: the endpoint's whole object, sent once the request finished. */
final class JsonAnswer extends WholeAnswerListener {

  private final HttpServerResponse response;

  JsonAnswer(Generation generation, HttpServerResponse response) {
    super(generation);
    this.response = response;
  }

  @Override
  protected void answered(JsonObject body) {
    response.putHeader("Content-Type", "application/json").end(body.encode());
  }

  @Override
  protected void failed(ApiError error) {
    ErrorResponses.send(response, error);
  }
}
