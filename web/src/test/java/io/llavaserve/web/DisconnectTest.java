package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineStats;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A client that goes away mid-stream aborts its request: its KV blocks return to the pool. */
class DisconnectTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  @Test
  void closingTheConnectionFreesTheKvBlocks() throws Exception {
    int maxTokens = 500;
    String body =
        ChatCompletionsTest.chat("Write a long story", maxTokens)
            .put("ignore_eos", true)
            .put("stream", true)
            .encode();
    long generatedBefore = server.get().engine.stats().tokensGenerated();
    try (Socket socket = new Socket("127.0.0.1", server.get().server.port())) {
      OutputStream out = socket.getOutputStream();
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      out.write(
          ("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  + "Content-Length: "
                  + bytes.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.write(bytes);
      out.flush();
      BufferedReader in =
          new BufferedReader(
              new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
      int events = 0;
      String line;
      while (events < 4 && (line = in.readLine()) != null) {
        if (line.startsWith("data: {")) {
          events++;
        }
      }
      assertEquals(4, events);
      assertTrue(
          server.get().engine.stats().kvBlocksUsed() > 0,
          "the request holds KV blocks while it streams");
    }
    // Idle: the aborted request is out of the engine and the server, its count of tokens final.
    EngineStats idle = server.get().awaitIdle();
    assertEquals(0, idle.kvBlocksUsed());
    long generated = idle.tokensGenerated() - generatedBefore;
    assertTrue(generated < maxTokens, "the request was aborted, not run to the end: " + generated);
    assertEquals(0, server.get().server.state().inFlight());
  }
}
