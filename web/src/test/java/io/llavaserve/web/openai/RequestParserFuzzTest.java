package io.llavaserve.web.openai;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/**
 * Any request body through the JSON, request, sampling and data-URI parsers of both endpoints: a
 * request or an {@link ApiError} with a 4xx status, never another exception (which would be a 500).
 */
class RequestParserFuzzTest {

  private static final RequestParser PARSER = new RequestParser(new RequestLimits(4, 512, 2048));

  @FuzzTest(maxDuration = "10m")
  void anyBody(byte[] bytes) {
    JsonObject body;
    try {
      body = RequestParser.body(Buffer.buffer(bytes));
    } catch (ApiError e) {
      clientError(e);
      return;
    }
    for (Endpoint endpoint : Endpoint.values()) {
      try {
        endpoint.parse(body, new RequestLimits(4, 512, 2048));
      } catch (ApiError e) {
        clientError(e);
      }
    }
    try {
      PARSER.chat(body);
    } catch (ApiError e) {
      clientError(e);
    }
  }

  private static void clientError(ApiError e) {
    if (e.status() < 400 || e.status() >= 500) {
      throw new AssertionError("status " + e.status() + " for a bad body: " + e.getMessage(), e);
    }
  }
}
