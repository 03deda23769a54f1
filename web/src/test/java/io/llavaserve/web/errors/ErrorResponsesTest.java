package io.llavaserve.web.errors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Only typed failures become client errors; anything else is a logged 500 naming the request. */
class ErrorResponsesTest {

  private final Logger log = Logger.getLogger(ErrorResponses.class.getName());
  private final List<LogRecord> records = new ArrayList<>();
  private final Handler capture =
      new Handler() {
        @Override
        public void publish(LogRecord r) {
          records.add(r);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  @BeforeEach
  void listen() {
    log.addHandler(capture);
  }

  @AfterEach
  void stopListening() {
    log.removeHandler(capture);
  }

  @Test
  void aTypedRejectionIsA400WithItsFieldAsParam() {
    ApiError e =
        ErrorResponses.toApiError(
            new RequestRejectedException("max_tokens", 20, 5000, "max_tokens: 5000 ... 20 fit"),
            "id1");
    assertEquals(400, e.status());
    assertEquals("max_tokens", e.param());
    JsonObject error = e.toJson().getJsonObject("error");
    assertEquals("invalid_request_error", error.getString("type"));
    assertEquals("max_tokens: 5000 ... 20 fit", error.getString("message"));
    assertTrue(records.isEmpty(), "a client error is not logged as a failure");
  }

  @Test
  void anOverloadIsA429WithRetryAfter() {
    ApiError e = ErrorResponses.toApiError(new OverloadedException("full", 3), "id2");
    assertEquals(429, e.status());
    assertEquals(3, e.retryAfterSeconds());
  }

  @Test
  void anApiErrorIsAnsweredAsItIs() {
    ApiError given = ApiError.badRequest("n", "n must be 1");
    assertSame(given, ErrorResponses.toApiError(given, "id3"));
  }

  @Test
  void anInternalIllegalArgumentExceptionIsA500NotA400() {
    // Reads like a validation message; before typed rejections it became a 400 on "prompt".
    IllegalArgumentException bug = new IllegalArgumentException("prompt: index 3 out of range");
    ApiError e = ErrorResponses.toApiError(bug, "req-42");
    assertEquals(500, e.status());
    assertNull(e.param());
    JsonObject error = e.toJson().getJsonObject("error");
    assertEquals("internal_error", error.getString("type"));
    assertEquals("internal_error", error.getString("code"));
    assertTrue(error.getString("message").contains("req-42"), error.getString("message"));
    assertEquals(1, records.size());
    assertEquals(Level.SEVERE, records.get(0).getLevel());
    assertSame(bug, records.get(0).getThrown(), "the stack is logged");
    assertTrue(records.get(0).getMessage().contains("req-42"));
  }
}
