package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.media.MediaConfig;
import io.llavaserve.web.openai.ServedModel;
import io.vertx.core.json.JsonObject;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bug inside request handling (here: the engine's tokenizer throws while a request is submitted)
 * is answered with a 500 naming the request id, its stack is logged under that id, and the server
 * goes on serving the next request.
 */
class InternalErrorTest {

  @TempDir Path dir;

  /** The model's tokenizer, except that its first detokenizer throws a message-like bug. */
  static Tokenizer failingOnce(Tokenizer real, RuntimeException bug) {
    AtomicBoolean thrown = new AtomicBoolean();
    return (Tokenizer)
        Proxy.newProxyInstance(
            Tokenizer.class.getClassLoader(),
            new Class<?>[] {Tokenizer.class},
            (proxy, method, args) -> {
              if (method.getName().equals("newDetokenizer") && thrown.compareAndSet(false, true)) {
                throw bug;
              }
              try {
                return method.invoke(real, args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
            });
  }

  @Test
  void anUnexpectedExceptionIsA500WithTheRequestIdAndTheServerGoesOn() throws Exception {
    Path ckpt = TestServer.checkpoint(dir);
    // An IllegalArgumentException whose message reads like a validation one: it must not pass
    // for the client's fault.
    IllegalArgumentException bug = new IllegalArgumentException("prompt: an internal slip");
    List<LogRecord> logged = new ArrayList<>();
    Handler capture =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            synchronized (logged) {
              logged.add(r);
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    Logger log = Logger.getLogger(ErrorResponses.class.getName());
    log.addHandler(capture);
    // The composition root's order by hand, for an engine over a tokenizer that fails once.
    try (LlavaModel model =
            LlavaModel.load(ckpt, ModelOptions.defaults().withKvCacheBytes(32L << 20));
        LlavaEngine engine =
            new LlavaEngine(
                model.runner(),
                failingOnce(model.tokenizer(), bug),
                LlavaEngine.specOf(model),
                EngineConfig.defaults())) {
      LlavaServer server =
          LlavaServer.start(
              TestServer.config().build(),
              new ServedModel(TestServer.MODEL_ID, model, engine),
              MediaConfig.defaults());
      try {
        HttpClient http = HttpClient.newHttpClient();
        String body = ChatCompletionsTest.chat("hello", 2).encode();
        HttpResponse<String> failed = post(http, server.port(), body);
        assertEquals(500, failed.statusCode(), failed.body());
        JsonObject error = new JsonObject(failed.body()).getJsonObject("error");
        assertEquals("internal_error", error.getString("type"));
        assertEquals("internal_error", error.getString("code"));
        assertNull(error.getString("param"));
        Matcher id = Pattern.compile("request (\\w+)").matcher(error.getString("message"));
        assertTrue(id.find(), error.getString("message"));
        synchronized (logged) {
          assertTrue(
              logged.stream()
                  .anyMatch(r -> r.getThrown() == bug && r.getMessage().contains(id.group(1))),
              "the stack is logged under the request id " + id.group(1));
        }

        HttpResponse<String> next = post(http, server.port(), body);
        assertEquals(200, next.statusCode(), next.body());
        assertSame(
            null, new JsonObject(next.body()).getValue("error"), "the next request is served");
      } finally {
        server.close();
      }
    } finally {
      log.removeHandler(capture);
    }
  }

  private static HttpResponse<String> post(HttpClient http, int port, String body)
      throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
