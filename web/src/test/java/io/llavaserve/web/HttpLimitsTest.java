package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each {@link HttpLimits} limit, hit over raw sockets: the documented status or a closed
 * connection, and a good request right after that succeeds. One front end, so that the connection
 * count is one instance's to keep.
 */
class HttpLimitsTest {

  @TempDir static Path dir;
  static TestServer s;

  @BeforeAll
  static void start() throws Exception {
    s = TestServer.on(dir).instances(1).http(new HttpLimits(3, 1024, 512, 2, 1, 0, 0)).start();
  }

  @AfterAll
  static void stop() {
    s.close();
  }

  private static Socket open() throws IOException {
    Socket socket = new Socket("127.0.0.1", s.port());
    socket.setSoTimeout(10_000);
    return socket;
  }

  private static void send(Socket socket, String text) throws IOException {
    OutputStream out = socket.getOutputStream();
    out.write(text.getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
  }

  /** The status line of the next response (the rest of the head is read and dropped). */
  private static String statusLine(Socket socket) throws IOException {
    InputStream in = socket.getInputStream();
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) >= 0 && b != '\n') {
      line.write(b);
    }
    return line.toString(StandardCharsets.ISO_8859_1).trim();
  }

  /** Whether the server closes {@code socket} within {@code millis} (reading only). */
  private static boolean closedWithin(Socket socket, int millis) throws IOException {
    socket.setSoTimeout(millis);
    try {
      InputStream in = socket.getInputStream();
      while (in.read() >= 0) {
        // drain whatever was answered
      }
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true; // reset
    }
  }

  private static void healthIsServed() throws Exception {
    try (Socket socket = open()) {
      send(socket, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assertEquals("HTTP/1.1 200 OK", statusLine(socket));
    }
  }

  @Test
  void headersOverTheLimitGet431() throws Exception {
    try (Socket socket = open()) {
      send(socket, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(2000) + "\r\n\r\n");
      String status = statusLine(socket);
      assertTrue(status.matches("HTTP/1\\.[01] 431 .*"), status);
    }
    healthIsServed();
  }

  @Test
  void aRequestLineOverTheLimitGets414() throws Exception {
    try (Socket socket = open()) {
      send(socket, "GET /health?q=" + "a".repeat(1000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
      String status = statusLine(socket);
      assertTrue(status.matches("HTTP/1\\.[01] 414 .*"), status);
    }
    healthIsServed();
  }

  @Test
  void aClientTricklingItsHeadersIsCutOff() throws Exception {
    try (Socket socket = open()) {
      long start = System.nanoTime();
      boolean closed = false;
      String head = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz\r\n";
      for (int i = 0; i < head.length() && !closed; i++) {
        try {
          send(socket, head.substring(i, i + 1));
        } catch (IOException e) {
          closed = true;
          break;
        }
        closed = closedWithin(socket, 200);
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      assertTrue(closed, "still open after " + seconds + " s of one byte per 200 ms");
      assertTrue(seconds < 4, "closed only after " + seconds + " s (limit 1 s)");
    }
    healthIsServed();
  }

  @Test
  void aSlowBodyIsCutOff() throws Exception {
    try (Socket socket = open()) {
      send(
          socket,
          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + "Content-Length: 100\r\n\r\n{\"messages\"");
      assertTrue(closedWithin(socket, 4000), "a body that never completes holds the connection");
    }
    healthIsServed();
  }

  @Test
  void anIdleConnectionIsClosed() throws Exception {
    try (Socket socket = open()) {
      send(socket, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      assertEquals("HTTP/1.1 200 OK", statusLine(socket));
      assertTrue(closedWithin(socket, 5000), "an idle keep-alive connection stays open");
    }
  }

  @Test
  void connectionsBeyondTheLimitAre503AndCloseAfterwards() throws Exception {
    try (Socket a = open();
        Socket b = open();
        Socket c = open()) {
      // Three open connections fill the limit; each sends a request to be counted for sure.
      for (Socket socket : new Socket[] {a, b, c}) {
        send(socket, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals("HTTP/1.1 200 OK", statusLine(socket));
      }
      try (Socket d = open()) {
        send(d, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assertTrue(statusLine(d).startsWith("HTTP/1.1 503"));
        assertTrue(closedWithin(d, 2000), "the refused connection is closed");
      }
    }
    // The server sees the three close; a new connection is served again.
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (s.server.state().connections() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    healthIsServed();
  }
}
