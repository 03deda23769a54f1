package io.llavaserve.web.websocket;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.http.ApiError;
import io.llavaserve.web.http.ErrorResponses;
import io.llavaserve.web.http.EventSubscriber;
import io.llavaserve.web.http.RequestIds;
import io.llavaserve.web.openai.CompletionPipeline;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.PromptPreparer;
import io.vertx.core.Context;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * One open {@code /v1/ws} socket: reads request and cancel frames, runs many requests at once and
 * writes each one's frames tagged with its id. Everything here runs on the socket's context. When
 * the socket's write queue is full, every request waits for it to drain before taking its next
 * event; closing the socket aborts every request it runs.
 */
final class SocketSession implements EventSubscriber.Gate {

  private static final Logger LOG = Logger.getLogger(SocketSession.class.getName());
  static final int MAX_ID_LENGTH = 128;

  /** A request of this socket, from its frame until its done or error frame. */
  private static final class Running {
    final String id;
    final String requestId;
    int promptTokens;
    int completionTokens;
    EventSubscriber subscriber; // null while the prompt is prepared
    Runnable leave = () -> {};
    boolean over;

    Running(String id, String requestId) {
      this.id = id;
      this.requestId = requestId;
    }
  }

  private final ServerWebSocket socket;
  private final Context context;
  private final CompletionPipeline pipeline;
  private final ServerState state;
  private final int maxRequests;
  private final Map<String, Running> running = new HashMap<>();
  private final List<Runnable> drainWaiters = new ArrayList<>();
  private boolean closed;

  SocketSession(
      ServerWebSocket socket,
      Context context,
      CompletionPipeline pipeline,
      ServerState state,
      int maxRequests) {
    this.socket = socket;
    this.context = context;
    this.pipeline = pipeline;
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
      frame = pipeline.body(Buffer.buffer(text));
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
    OpenAiRequest request;
    try {
      request = pipeline.parse(body);
    } catch (RuntimeException e) {
      send(Frames.error(id, ErrorResponses.toApiError(e, id)));
      return;
    }
    Running r = new Running(id, "chatcmpl-" + RequestIds.next());
    running.put(id, r);
    pipeline
        .prepare(request)
        .onComplete(
            ar ->
                context.runOnContext(
                    v -> {
                      if (r.over) {
                        return; // cancelled, or the socket closed, while preparing
                      }
                      if (ar.failed()) {
                        ApiError e = ErrorResponses.toApiError(ar.cause(), r.requestId);
                        end(r, Frames.error(id, e));
                      } else {
                        submit(r, request, ar.result());
                      }
                    }));
  }

  private void submit(Running r, OpenAiRequest request, PromptPreparer.Prepared prompt) {
    CompletionPipeline.Submitted submitted;
    try {
      submitted = pipeline.submit(r.requestId, request, prompt);
    } catch (RuntimeException e) {
      end(r, Frames.error(r.id, ErrorResponses.toApiError(e, r.requestId)));
      return;
    }
    r.promptTokens = prompt.positions();
    r.leave = submitted.leave();
    r.subscriber =
        new EventSubscriber(
            context,
            this,
            new EventSubscriber.Sink() {
              @Override
              public void onEvent(TokenEvent event) {
                if (event instanceof TokenEvent.Token t) {
                  r.completionTokens++;
                  send(Frames.token(r.id, t, submitted.logprobs(), pipeline.tokenText()));
                } else if (event instanceof TokenEvent.Finished f) {
                  if (f.reason() == FinishReason.ERROR) {
                    LOG.severe("request " + r.requestId + " failed in the engine: " + f.error());
                  }
                  end(r, Frames.done(r.id, f.reason(), f.text(), f.usage()));
                }
              }

              @Override
              public void onFailure(Throwable failure) {
                end(r, Frames.error(r.id, ErrorResponses.toApiError(failure, r.requestId)));
              }
            });
    submitted.events().subscribe(r.subscriber);
  }

  private void cancel(String id) {
    Running r = running.get(id);
    if (r == null) {
      String message = "no request with id " + id + " is running";
      send(Frames.error(id, ApiError.notFound("id", "not_found", message)));
      return;
    }
    abort(r);
    // The engine sends no finish to a cancelled stream: the counts are those seen so far.
    Usage usage = new Usage(r.promptTokens, 0, r.completionTokens);
    end(r, Frames.done(id, FinishReason.ABORT, "", usage));
  }

  /** Stops a request's stream, which aborts it in the engine (its KV blocks free next step). */
  private static void abort(Running r) {
    if (r.subscriber != null) {
      r.subscriber.cancel();
    }
  }

  /** Sends a request's last frame and forgets it. */
  private void end(Running r, JsonObject lastFrame) {
    r.over = true;
    r.leave.run();
    running.remove(r.id, r);
    send(lastFrame);
  }

  private void closeAll() {
    closed = true;
    for (Running r : running.values()) {
      r.over = true;
      abort(r);
      r.leave.run();
    }
    running.clear();
    drainWaiters.clear();
  }

  private void send(JsonObject frame) {
    if (!closed) {
      socket.writeTextMessage(frame.encode());
    }
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
  }
}
