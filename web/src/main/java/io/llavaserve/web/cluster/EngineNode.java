package io.llavaserve.web.cluster;

import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.errors.RequestIds;
import io.llavaserve.web.lifecycle.Gate;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.openai.Tokenization;
import io.vertx.core.AbstractVerticle;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The engine side of the cluster: takes the requests gateways send to this node's address and runs
 * each through this node's own {@link RequestLifecycle}, as its HTTP transports do, with a {@link
 * Gate} made of the gateway's credits: out of credits, the stream pauses (and the engine stops
 * decoding it) until the gateway's client reads on. Publishes the engine's load and its cache
 * summary on {@link StreamFrames#LOADS} every heartbeat and on a change. Streams of a gateway that
 * leaves are aborted. A gateway's {@code /tokenize} and {@code /detokenize} are answered here too,
 * with this node's tokenizer. Everything runs on this verticle's event loop.
 */
public final class EngineNode extends AbstractVerticle {

  /** A heartbeat carries the summary's keys at least every this many beats, for new gateways. */
  private static final int SUMMARY_EVERY_BEATS = 5;

  private static final long CHECK_MILLIS = 100;

  private final ClusterNode node;
  private final ServerState state;
  private final ServedModel served;
  private final RequestLifecycle lifecycle;
  private final Tokenization tokenization;
  private final ClusterConfig config;
  private final CacheSummary summary = new CacheSummary(CacheSummary.DEFAULT_CAPACITY);
  private final Map<String, RemoteRequest> streams = new HashMap<>();

  /**
   * Frames waiting for their gateway, by gateway: those of one engine step (one token of every
   * running sequence) go in one message, sent once the events already queued on this loop are in.
   */
  private final Map<String, JsonArray> outbox = new HashMap<>();

  private EngineLoad published;
  private long publishedAt;
  private int beats;

  public EngineNode(
      ClusterNode node,
      ServerState state,
      ServedModel served,
      RequestLifecycle lifecycle,
      Tokenization tokenization,
      ClusterConfig config) {
    this.node = node;
    this.state = state;
    this.served = served;
    this.lifecycle = lifecycle;
    this.tokenization = tokenization;
    this.config = config;
  }

  /** The model's tool-call syntax as a gateway needs it: format and ids. */
  private ToolCallSyntax toolCalls() {
    ToolCallSyntax s = served.model().toolCallSyntax();
    return new ToolCallSyntax(s.format(), s.ids());
  }

  @Override
  public void start(Promise<Void> started) {
    vertx.setPeriodic(CHECK_MILLIS, id -> publishLoad());
    node.onMemberLeft(gone -> context.runOnContext(v -> gatewayLeft(gone)));
    Promise<Void> registered = Promise.promise();
    vertx
        .eventBus()
        .<JsonObject>consumer(StreamFrames.engineAddress(node.nodeId()), this::onMessage)
        .completionHandler(registered);
    registered
        .future()
        .onSuccess(
            v -> {
              publishLoad();
              started.complete();
            })
        .onFailure(started::fail);
  }

  private void onMessage(Message<JsonObject> message) {
    JsonObject m = message.body();
    switch (m.getString("k", "")) {
      case "start" -> start(message);
      case "credit" -> {
        RemoteRequest r = streams.get(m.getString("s"));
        if (r != null) {
          r.grant(m.getInteger("n", 0));
        }
      }
      case "cancel" -> {
        RemoteRequest r = streams.remove(m.getString("s"));
        if (r != null) {
          r.generation.cancel();
        }
      }
      case "tokenize" -> answer(message, tokenization.tokenize(m.getJsonObject("body")));
      case "detokenize" -> answer(message, tokenization.detokenize(m.getJsonObject("body")));
      default -> message.fail(400, "unknown message kind " + m.getString("k"));
    }
  }

  /** Replies to a gateway's tokenizer call with the answer's body or its error. */
  private static void answer(Message<JsonObject> message, io.vertx.core.Future<JsonObject> answer) {
    answer.onComplete(
        ar ->
            message.reply(
                ar.succeeded()
                    ? new JsonObject().put("k", "ok").put("body", ar.result())
                    : StreamFrames.failure(
                        null, ErrorResponses.toApiError(ar.cause(), RequestIds.next()))));
  }

  private void start(Message<JsonObject> message) {
    JsonObject m = message.body();
    String stream = m.getString("s");
    if (state.phase() != ServerState.Phase.READY) {
      // Stopping: the gateway sends the request to another engine.
      message.reply(
          StreamFrames.failure(
              stream, ApiError.engineUnavailable("the engine node is stopping; retry elsewhere")));
      return;
    }
    Generation generation;
    try {
      JsonObject body = m.getJsonObject("body");
      generation =
          lifecycle.accept(
              Endpoint.valueOf(m.getString("endpoint")),
              body,
              m.getString("rid"),
              Priority.valueOf(m.getString("priority")));
      summary.add(CacheKeys.of(body));
    } catch (RuntimeException e) {
      message.reply(StreamFrames.failure(stream, ErrorResponses.toApiError(e, m.getString("rid"))));
      return;
    }
    RemoteRequest r =
        new RemoteRequest(stream, m.getString("gw"), m.getInteger("credits"), message, generation);
    streams.put(stream, r);
    generation.start(Generation.on(context), r, r);
  }

  /** Queues a frame for {@code gateway}; the first one queued schedules the flush. */
  private void toGateway(String gateway, JsonObject frame) {
    if (outbox.isEmpty()) {
      context.runOnContext(v -> flush());
    }
    outbox.computeIfAbsent(gateway, g -> new JsonArray()).add(frame);
  }

  /** Sends each gateway its queued frames, in order, as one message. */
  private void flush() {
    outbox.forEach(
        (gateway, frames) ->
            vertx
                .eventBus()
                .send(StreamFrames.gatewayAddress(gateway), StreamFrames.batch(frames)));
    outbox.clear();
  }

  /** Aborts the streams whose gateway left: nobody reads them any more. */
  private void gatewayLeft(String gone) {
    streams
        .values()
        .removeIf(
            r -> {
              if (r.gateway.equals(gone)) {
                r.generation.cancel();
                return true;
              }
              return false;
            });
  }

  private void publishLoad() {
    EngineStats s = served.engine().stats();
    long now = System.nanoTime();
    EngineLoad load =
        new EngineLoad(
            node.nodeId(),
            served.id(),
            served.spec().maxModelLen(),
            state.phase() == ServerState.Phase.READY,
            s.running(),
            s.waiting(),
            s.kvBlocksUsed(),
            s.kvBlocksTotal(),
            summary.version(),
            null,
            toolCalls());
    boolean changed = published == null || differs(load, published);
    boolean due = now - publishedAt >= config.heartbeatMillis() * 1_000_000L;
    if (!changed && !due) {
      return;
    }
    boolean newSummary = published == null || published.summaryVersion() != load.summaryVersion();
    beats++;
    EngineLoad sent =
        newSummary || beats % SUMMARY_EVERY_BEATS == 0
            ? new EngineLoad(
                load.node(),
                load.model(),
                load.maxModelLen(),
                load.accepting(),
                load.running(),
                load.waiting(),
                load.kvBlocksUsed(),
                load.kvBlocksTotal(),
                load.summaryVersion(),
                summary.toArray(),
                load.toolCalls())
            : load;
    vertx.eventBus().publish(StreamFrames.LOADS, sent.toJson());
    published = load;
    publishedAt = now;
  }

  private static boolean differs(EngineLoad a, EngineLoad b) {
    return a.accepting() != b.accepting()
        || a.running() != b.running()
        || a.waiting() != b.waiting()
        || a.kvBlocksUsed() != b.kvBlocksUsed()
        || a.summaryVersion() != b.summaryVersion();
  }

  /**
   * One request a gateway sent: its answer to the start message, its credits, its frames. Its
   * {@link Gate} closes when the credits run out.
   */
  private final class RemoteRequest implements Gate, Generation.Listener {
    final String stream;
    final String gateway;
    final Generation generation;
    private Message<JsonObject> start; // until answered
    private long credits;
    private Runnable whenCredited;

    RemoteRequest(
        String stream, String gateway, int credits, Message<JsonObject> start, Generation g) {
      this.stream = stream;
      this.gateway = gateway;
      this.credits = credits;
      this.start = start;
      this.generation = g;
    }

    void grant(int n) {
      credits += n;
      Runnable r = whenCredited;
      if (credits > 0 && r != null) {
        whenCredited = null;
        r.run();
      }
    }

    @Override
    public boolean full() {
      return credits <= 0;
    }

    @Override
    public void whenDrained(Runnable action) {
      if (credits > 0) {
        action.run();
      } else {
        whenCredited = action;
      }
    }

    @Override
    public void onSubmitted() {
      start.reply(
          new JsonObject()
              .put("s", stream)
              .put("positions", generation.usageSoFar().promptTokens()));
      start = null;
    }

    @Override
    public void onEvent(TokenEvent event) {
      credits--;
      IntFunction<String> pieces =
          generation.logprobs() ? served.model().tokenizer()::tokenPiece : null;
      toGateway(gateway, StreamFrames.event(stream, event, pieces));
      if (event instanceof TokenEvent.Finished f && f.last()) {
        streams.remove(stream);
      }
    }

    @Override
    public void onFailure(Throwable failure) {
      streams.remove(stream);
      ApiError error = generation.error(failure);
      if (start != null) {
        start.reply(StreamFrames.failure(stream, error));
        start = null;
      } else {
        toGateway(gateway, StreamFrames.failure(stream, error));
      }
    }
  }
}
