package io.llavaserve.cli;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * One socket on {@code /v1/ws}. A request is a text frame {@code {"type":"chat","id":...}} plus the
 * chat-completions body; the server answers {@code token} frames and one {@code done} frame with
 * usage, each tagged with the id, so requests may share the socket. Each token frame is one token
 * event.
 */
final class WsBenchClient implements BenchClient<JsonObject> {

  /**
   * The server has no WebSocket endpoint: it answered the upgrade with 404, or with 405 as a router
   * does whose {@code POST /v1/*} routes match the path.
   */
  static final class NotAvailable extends Exception {
    NotAvailable() {
      super("websocket: not available on this server");
    }
  }

  /** How a request is cut short on purpose: after how many tokens, and how. */
  record Cut(int afterTokens, boolean disconnect) {
    static final Cut NONE = new Cut(Integer.MAX_VALUE, false);
  }

  /** A request in flight: its recorder, its cut, and the future its done frame completes. */
  private record Pending(
      BenchStats.Recorder trace, Cut cut, CompletableFuture<BenchStats.Trace> done) {}

  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final WebSocket socket;
  private final Duration timeout;
  private volatile boolean open = true;

  private WsBenchClient(HttpClient http, URI base, String apiKey, Duration timeout)
      throws Exception {
    this.timeout = timeout;
    URI uri = URI.create(base.toString().replaceFirst("^http", "ws")).resolve("/v1/ws");
    WebSocket.Builder builder = http.newWebSocketBuilder();
    if (apiKey != null) {
      builder.header("Authorization", "Bearer " + apiKey);
    }
    try {
      socket = builder.buildAsync(uri, new Frames()).get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof WebSocketHandshakeException h) {
        int status = h.getResponse().statusCode();
        if (status == 404 || status == 405) {
          throw new NotAvailable();
        }
        throw new IOException("the WebSocket upgrade at " + uri + " was answered " + status);
      }
      throw e;
    }
  }

  /** Opens a socket; {@link NotAvailable} when the server has no {@code /v1/ws}. */
  static WsBenchClient connect(HttpClient http, URI base) throws Exception {
    return new WsBenchClient(http, base, null, Duration.ofMinutes(30));
  }

  /**
   * Opens a socket with a bearer key (or null); a request's answer may take up to {@code timeout}.
   */
  static WsBenchClient connect(HttpClient http, URI base, String apiKey, Duration timeout)
      throws Exception {
    return new WsBenchClient(http, base, apiKey, timeout);
  }

  /** False once the socket was dropped, closed by the server, or failed. */
  boolean isOpen() {
    return open;
  }

  /** The chat body as a WebSocket request frame. */
  static JsonObject frame(String id, JsonObject chatBody) {
    JsonObject frame = new JsonObject().put("type", "chat").put("id", id);
    chatBody.forEach(e -> frame.put(e.getKey(), e.getValue()));
    frame.remove("stream");
    frame.remove("stream_options");
    return frame;
  }

  @Override
  public BenchStats.Trace send(JsonObject frame) throws Exception {
    return send(frame, Cut.NONE);
  }

  /**
   * Sends a request frame; after {@code cut.afterTokens()} token frames the client either sends a
   * {@code cancel} frame and waits for the request's done frame, or drops the whole socket (a
   * disconnect: the socket is then no longer {@link #isOpen open}).
   */
  BenchStats.Trace send(JsonObject frame, Cut cut) throws Exception {
    String id = frame.getString("id");
    Pending p = new Pending(new BenchStats.Recorder(), cut, new CompletableFuture<>());
    pending.put(id, p);
    socket.sendText(frame.encode(), true).get(30, TimeUnit.SECONDS);
    try {
      return p.done().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } finally {
      pending.remove(id);
    }
  }

  @Override
  public void close() {
    open = false;
    try {
      socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      // the socket is going anyway
    } finally {
      socket.abort();
    }
  }

  private void onFrame(JsonObject frame) {
    String type = frame.getString("type", "");
    Pending p = pending.get(frame.getString("id", ""));
    if (p == null) {
      if (type.equals("error") && frame.getValue("id") == null) {
        failAll("error frame: " + frame.encode()); // about the socket, not one request
      }
      return;
    }
    switch (type) {
      case "token" -> {
        p.trace().token(String.valueOf(frame.getInteger("token_id")), frame.getString("text", ""));
        p.trace().indexed(frame.getInteger("index", -1));
        if (p.trace().tokens() == p.cut().afterTokens()) {
          cut(frame.getString("id"), p);
        }
      }
      case "done" -> {
        p.trace().text(frame.getString("text", ""));
        JsonObject usage = frame.getJsonObject("usage");
        if (usage != null) {
          p.trace().usage(usage);
        }
        pending.remove(frame.getString("id"));
        String reason = frame.getString("finish_reason", "");
        p.done()
            .complete(
                reason.equals("error")
                    ? p.trace().failed("finish_reason error")
                    : p.trace().tokens() >= p.cut().afterTokens()
                        ? p.trace().cut()
                        : p.trace().done());
      }
      case "error" -> {
        pending.remove(frame.getString("id"));
        p.done().complete(p.trace().failed("error frame: " + frame.encode()));
      }
      default -> {} // frames this benchmark does not time
    }
  }

  /** Cancels request {@code id} (its done frame ends it), or drops the socket and ends it now. */
  private void cut(String id, Pending p) {
    if (!p.cut().disconnect()) {
      socket.sendText(new JsonObject().put("type", "cancel").put("id", id).encode(), true);
      return;
    }
    open = false;
    socket.abort();
    pending.remove(id);
    p.done().complete(p.trace().cut());
    failAll("the client dropped the socket");
  }

  private void failAll(String why) {
    open = false;
    pending.forEach((id, p) -> p.done().complete(p.trace().failed(why)));
    pending.clear();
  }

  /** Gathers fragments into whole text frames and hands them on. */
  private final class Frames implements WebSocket.Listener {
    private final StringBuilder text = new StringBuilder();

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      text.append(data);
      if (last) {
        String whole = text.toString();
        text.setLength(0);
        onFrame(new JsonObject(whole));
      }
      ws.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
      failAll("the server closed the socket: " + status + " " + reason);
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      failAll("socket error: " + error);
    }
  }
}
