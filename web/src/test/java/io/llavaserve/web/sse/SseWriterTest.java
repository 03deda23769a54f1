package io.llavaserve.web.sse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.web.lifecycle.Gate;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Server-sent events as OpenAI streams them, and the response's backpressure as a gate. */
class SseWriterTest {

  /** The parts of a response the writer uses, recorded. */
  static final class FakeResponse {
    int status;
    boolean chunked;
    final Map<String, String> headers = new HashMap<>();
    final List<String> written = new ArrayList<>();
    boolean ended;
    boolean closed;
    boolean queueFull;
    Handler<Void> drainHandler;

    HttpServerResponse proxy() {
      return (HttpServerResponse)
          Proxy.newProxyInstance(
              HttpServerResponse.class.getClassLoader(),
              new Class<?>[] {HttpServerResponse.class},
              (self, method, args) ->
                  switch (method.getName()) {
                    case "setStatusCode" -> {
                      status = (Integer) args[0];
                      yield self;
                    }
                    case "setChunked" -> {
                      chunked = (Boolean) args[0];
                      yield self;
                    }
                    case "putHeader" -> {
                      headers.put(args[0].toString(), args[1].toString());
                      yield self;
                    }
                    case "write" -> {
                      written.add((String) args[0]);
                      yield Future.succeededFuture();
                    }
                    case "end" -> {
                      if (args != null) {
                        written.add((String) args[0]);
                      }
                      ended = true;
                      yield Future.succeededFuture();
                    }
                    case "closed" -> closed;
                    case "ended" -> ended;
                    case "writeQueueFull" -> queueFull;
                    case "drainHandler" -> {
                      @SuppressWarnings("unchecked")
                      Handler<Void> h = (Handler<Void>) args[0];
                      drainHandler = h;
                      yield self;
                    }
                      // A test double: a call the writer is not expected to make fails the test.
                    default -> throw new UnsupportedOperationException(method.getName());
                  });
    }

    void drain() {
      Handler<Void> h = drainHandler;
      if (h != null) {
        h.handle(null);
      }
    }
  }

  @Test
  void openSendsAnEventStreamThatNoProxyBuffers() {
    FakeResponse r = new FakeResponse();
    new SseWriter(r.proxy()).open();
    assertEquals(200, r.status);
    assertTrue(r.chunked);
    assertEquals("text/event-stream; charset=utf-8", r.headers.get("Content-Type"));
    assertEquals("no-cache", r.headers.get("Cache-Control"));
    assertEquals("no", r.headers.get("X-Accel-Buffering"));
  }

  @Test
  void eachObjectIsADataLineAndTheStreamEndsWithDone() {
    FakeResponse r = new FakeResponse();
    SseWriter sse = new SseWriter(r.proxy());
    sse.open();
    sse.data(new JsonObject().put("a", 1));
    sse.data(new JsonObject().put("b", "x\ny"));
    sse.done();
    assertEquals(
        List.of("data: {\"a\":1}\n\n", "data: {\"b\":\"x\\ny\"}\n\n", "data: [DONE]\n\n"),
        r.written);
    assertTrue(r.ended);
    sse.done();
    assertEquals(3, r.written.size(), "done twice ends once");
  }

  @Test
  void nothingIsWrittenToAClosedConnection() {
    FakeResponse r = new FakeResponse();
    SseWriter sse = new SseWriter(r.proxy());
    r.closed = true;
    sse.data(new JsonObject().put("a", 1));
    sse.done();
    assertTrue(r.written.isEmpty());
    assertFalse(r.ended);
  }

  @Test
  void theGateIsFullWhileTheWriteQueueIsAndOpensOnceOnDrain() {
    FakeResponse r = new FakeResponse();
    Gate gate = new SseWriter(r.proxy()).gate();
    assertFalse(gate.full());
    r.queueFull = true;
    assertTrue(gate.full());
    AtomicInteger resumed = new AtomicInteger();
    gate.whenDrained(resumed::incrementAndGet);
    assertEquals(0, resumed.get());
    r.drain();
    assertEquals(1, resumed.get());
    r.drain();
    assertEquals(1, resumed.get(), "the callback runs once");
  }
}
