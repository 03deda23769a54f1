package io.llavaserve.web.websocket;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.errors.RequestIds;
import io.llavaserve.web.lifecycle.Gate;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.openai.ToolUse;
import io.vertx.core.Context;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.logging.Logger;

/**
 * One open {@code /v1/ws} socket: reads request and cancel frames, runs many requests at once
 * through the {@link RequestLifecycle} (each a chat completion, always streamed) and writes each
 * one's events as frames tagged with the client's id. Everything here runs on the socket's context.
 * When the socket's write queue is full, every request waits for it to drain before taking its next
 * event, and the socket reads no more frames (a client that sends without reading would otherwise
 * make the server queue answers without bound); closing the socket aborts every request it runs.
 */
final class SocketSession implements Gate {

  private static final Logger LOG = Logger.getLogger(SocketSession.class.getName());
  static final int MAX_ID_LENGTH = 128;

  private final ServerWebSocket socket;
  private final Executor thread;
  private final RequestLifecycle lifecycle;
  private final ServerState state;
  private final int maxRequests;
  private final Map<String, Generation> running = new HashMap<>(); // by the client's id
  private final List<Runnable> drainWaiters = new ArrayList<>();
  private boolean closed;

  SocketSession(
      ServerWebSocket socket,
      Context context,
      RequestLifecycle lifecycle,
      ServerState state,
      int maxRequests) {
    this.socket = socket;
    this.thread = Generation.on(context);
    this.lifecycle = lifecycle;
    this.state = state;
    this.maxRequests = maxRequests;
  }

  void start() {
    socket.textMessageHandler(this::onText);
    socket.binaryMessageHandler(
        b ->
            send(
                Frames.error(
                    null,
                    ApiError.badRequest(null, "binary frames are not accepted; send JSON text"))));
    socket.drainHandler(v -> drained());
    socket.closeHandler(v -> closeAll());
    socket.exceptionHandler(this::failed);
  }

  private void failed(Throwable e) {
    if (closed || socket.isClosed()) {
      return;
    }
    // Vert.x reports a message over its size cap this way and leaves the socket open.
    boolean tooBig =
        e instanceof IllegalStateException
            && String.valueOf(e.getMessage()).contains("max message size");
    LOG.fine("WebSocket failed: " + e);
    if (tooBig) {
      socket.close((short) 1009, "message larger than server.max-body-bytes");
    } else {
      socket.close((short) 1011, "connection failed");
    }
  }

  private void onText(String text) {
    JsonObject frame;
    try {
      frame = lifecycle.body(Buffer.buffer(text));
    } catch (ApiError e) {
      send(Frames.error(null, e));
      return;
    }
    String id;
    String type;
    try {
      id = id(frame);
      type = type(frame);
    } catch (ApiError e) {
      send(Frames.error(frame.getValue("id") instanceof String s ? s : null, e));
      return;
    }
    if (type.equals("cancel")) {
      cancel(id);
    } else {
      chat(id, frame);
    }
  }

  private static String id(JsonObject frame) {
    Object id = frame.getValue("id");
    if (!(id instanceof String s) || s.isEmpty() || s.length() > MAX_ID_LENGTH) {
      throw ApiError.badRequest(
          "id", "id is required: a string of 1 to " + MAX_ID_LENGTH + " characters");
    }
    return s;
  }

  private static String type(JsonObject frame) {
    Object type = frame.getValue("type");
    if (type == null && frame.containsKey("messages")) {
      return "chat";
    }
    if (!"chat".equals(type) && !"cancel".equals(type)) {
      throw ApiError.badRequest(
          "type", "type must be chat or cancel (or left out with messages), got " + type);
    }
    return (String) type;
  }

  private void chat(String id, JsonObject frame) {
    if (running.containsKey(id)) {
      send(Frames.error(id, ApiError.badRequest("id", "a request with id " + id + " is running")));
      return;
    }
    if (running.size() >= maxRequests) {
      send(
          Frames.error(
              id,
              ApiError.overloaded(
                  "this socket runs "
                      + running.size()
                      + " requests, the most allowed"
                      + " (server.ws-max-requests-per-socket); wait for one to finish",
                  1)));
      return;
    }
    if (state.phase() != ServerState.Phase.READY) {
      send(Frames.error(id, ApiError.unavailable("the server is shutting down")));
      return;
    }
    JsonObject body = frame.copy();
    for (String field : List.of("type", "id", "stream", "stream_options")) {
      body.remove(field); // always streamed; the rest is a chat-completions body
    }
    String requestId = RequestIds.next();
    Generation generation;
    try {
      generation =
          lifecycle.accept(Endpoint.CHAT_COMPLETIONS, body, requestId, Priority.INTERACTIVE);
    } catch (RuntimeException e) {
      send(Frames.error(id, ErrorResponses.toApiError(e, requestId)));
      return;
    }
    running.put(id, generation);
    generation.start(thread, this, frames(id, generation));
  }

  /** Writes a request's events as frames tagged with the client's {@code id}. */
  private Generation.Listener frames(String id, Generation generation) {
    ToolUse tools = generation.request().tools();
    // Each choice's text, read for tool calls when it ends.
    java.util.Map<Integer, StringBuilder> texts = new java.util.HashMap<>();
    return new Generation.Listener() {
      @Override
      public void onEvent(TokenEvent event) {
        if (event instanceof TokenEvent.Token t) {
          if (tools.parsesCalls()) {
            texts.computeIfAbsent(t.choice(), c -> new StringBuilder()).append(t.text());
          }
          send(Frames.token(id, t, generation.logprobs(), generation.tokenText()));
        } else if (event instanceof TokenEvent.Finished f) {
          JsonObject done = Frames.done(id, f.choice(), f.reason(), f.text(), f.usage());
          if (tools.parsesCalls() && f.reason() != FinishReason.ERROR) {
            StringBuilder text = texts.computeIfAbsent(f.choice(), c -> new StringBuilder());
            text.append(f.text());
            Frames.withToolCalls(done, tools.parse(text.toString()), f.reason());
          }
          if (f.last()) {
            end(id, generation, done);
          } else {
            send(done);
          }
        }
      }

      @Override
      public void onFailure(Throwable failure) {
        end(id, generation, Frames.error(id, generation.error(failure)));
      }
    };
  }

  private void cancel(String id) {
    Generation generation = running.remove(id);
    if (generation == null) {
      String message = "no request with id " + id + " is running";
      send(Frames.error(id, ApiError.notFound("id", "not_found", message)));
      return;
    }
    // Aborts it in the engine (its KV blocks free next step), which then sends no finish: the
    // counts are those seen so far.
    generation.cancel();
    send(Frames.done(id, 0, FinishReason.ABORT, "", generation.usageSoFar()));
  }

  /** Sends a request's last frame and forgets it. */
  private void end(String id, Generation generation, JsonObject lastFrame) {
    running.remove(id, generation);
    send(lastFrame);
  }

  private void closeAll() {
    closed = true;
    for (Generation generation : running.values()) {
      generation.cancel();
    }
    running.clear();
    drainWaiters.clear();
  }

  private void send(JsonObject frame) {
    if (!closed) {
      socket.writeTextMessage(frame.encode());
      if (socket.writeQueueFull()) {
        socket.pause(); // until drained
      }
    }
  }

  /** The requests this socket runs now. */
  int requests() {
    return running.size();
  }

  @Override
  public boolean full() {
    return socket.writeQueueFull();
  }

  @Override
  public void whenDrained(Runnable action) {
    if (closed) {
      return;
    }
    drainWaiters.add(action);
  }

  private void drained() {
    List<Runnable> waiting = new ArrayList<>(drainWaiters);
    drainWaiters.clear();
    waiting.forEach(Runnable::run);
    if (!closed && !socket.writeQueueFull()) {
      socket.resume();
    }
  }
}
