package io.llavaserve.web.websocket;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Any sequence of client frames through one {@code /v1/ws} session on the real request lifecycle
 * and engine (see {@link SocketHarness}): no exception escapes the session, every frame it sends is
 * a token, done or error frame (an error a 4xx or 503, never a 500), it never runs more requests
 * than its cap, while its write queue is full it sends only what was already under way, and once
 * the socket closes the engine holds no request, no KV block and nothing in flight.
 *
 * <p>The input is a script, one frame per line: a line is a text frame, {@code B:...} a binary one
 * (the rest of the line as bytes), {@code !full} fills the socket's write queue and {@code !drain}
 * drains it; at the end the client goes away. The seeds replay in every test run; {@code
 * JAZZER_FUZZ=1} fuzzes (see the README's "Fuzzing").
 */
class SocketSessionFuzzTest {

  private static final int MAX_FRAMES = 64;
  private static final Set<String> TYPES = Set.of("token", "done", "error");

  /**
   * Frames one full queue may still carry: the answer to the frame being read when it filled, and
   * per request one event already under way plus its failure.
   */
  private static final int MAX_WHILE_FULL = 1 + 2 * SocketHarness.MAX_REQUESTS;

  private static SocketHarness harness;

  @BeforeAll
  static void start() throws Exception {
    harness = new SocketHarness();
  }

  @AfterAll
  static void stop() {
    harness.close();
  }

  @FuzzTest(maxDuration = "10m")
  void anyFrames(byte[] script) throws Exception {
    SocketHarness.Session s = harness.open();
    int start = 0;
    for (int frames = 0; start <= script.length && frames < MAX_FRAMES; frames++) {
      int end = start;
      while (end < script.length && script[end] != '\n') {
        end++;
      }
      byte[] line = Arrays.copyOfRange(script, start, end);
      start = end + 1;
      s.call(
          () -> {
            step(s, line);
            return null;
          });
      check(s);
    }
    s.call(
        () -> {
          s.close();
          return null;
        });
    harness.awaitIdle();
    int running = s.call(() -> s.session.requests());
    if (running != 0) {
      throw new AssertionError(running + " requests still held by a closed socket");
    }
    check(s);
  }

  private static void step(SocketHarness.Session s, byte[] line) {
    String text = new String(line, StandardCharsets.UTF_8);
    if (text.equals("!full")) {
      s.fill();
    } else if (text.equals("!drain")) {
      s.drain();
      if (s.paused && !s.full) {
        throw new AssertionError("the socket drained, and the session still reads nothing");
      }
    } else if (text.startsWith("B:")) {
      s.receive(Buffer.buffer(Arrays.copyOfRange(line, 2, line.length)));
    } else {
      s.receive(text);
    }
  }

  private static void check(SocketHarness.Session s) throws Exception {
    for (Throwable t : harness.escaped()) {
      throw new AssertionError("escaped the session: " + t, t);
    }
    s.call(
        () -> {
          if (s.session.requests() > SocketHarness.MAX_REQUESTS) {
            throw new AssertionError(s.session.requests() + " requests run on one socket");
          }
          if (s.full && s.writtenWhileFull > MAX_WHILE_FULL) {
            throw new AssertionError(
                s.writtenWhileFull + " frames sent while the write queue was full");
          }
          for (String frame : s.written) {
            JsonObject f = new JsonObject(frame);
            if (!TYPES.contains(f.getString("type"))) {
              throw new AssertionError("a frame of no known type: " + frame);
            }
            if (f.getString("type").equals("error")) {
              int status = f.getJsonObject("error").getInteger("status");
              if (status < 400 || (status >= 500 && status != 503)) {
                throw new AssertionError("error status " + status + ": " + frame);
              }
            }
          }
          s.written.clear();
          return null;
        });
  }
}
