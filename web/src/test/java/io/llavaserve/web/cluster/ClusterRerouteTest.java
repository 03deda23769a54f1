package io.llavaserve.web.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.lifecycle.Backend;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.openai.RequestLimits;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The gateway's backend against fake engines on a local event bus: a request its engine has not
 * taken goes elsewhere when that engine leaves; one it has taken ends with {@code
 * engine_unavailable}; one whose every frame is handled before the engine's reply still starts.
 */
class ClusterRerouteTest {

  private Vertx vertx;
  private EngineTable table;
  private ClusterMetrics metrics;
  private RemoteBackend backend;
  private final List<JsonObject> toSilent = new CopyOnWriteArrayList<>();
  private final List<JsonObject> toAnswering = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    table = new EngineTable();
    metrics = new ClusterMetrics(new SimpleMeterRegistry(), table);
    backend =
        new RemoteBackend(vertx, "gw", table, new CacheAwareRouter(32, 1.0001), metrics, 30_000, 0);
    vertx.eventBus().<JsonObject>consumer(StreamFrames.gatewayAddress("gw"), backend::onFrame);
    // "silent" never answers a start; "answering" takes every request.
    vertx
        .eventBus()
        .<JsonObject>consumer(StreamFrames.engineAddress("silent"), m -> toSilent.add(m.body()));
    vertx
        .eventBus()
        .<JsonObject>consumer(
            StreamFrames.engineAddress("answering"),
            m -> {
              toAnswering.add(m.body());
              if ("start".equals(m.body().getString("k"))) {
                m.reply(new JsonObject().put("s", m.body().getString("s")).put("positions", 7));
              }
            });
  }

  /**
   * An engine whose frames the gateway handles before its reply to the start: they travel to the
   * gateway's consumer, the reply to whoever sent the start, on another context.
   */
  private void racingEngine() {
    vertx
        .eventBus()
        .<JsonObject>consumer(
            StreamFrames.engineAddress("racing"),
            m -> {
              if (!"start".equals(m.body().getString("k"))) {
                return;
              }
              String stream = m.body().getString("s");
              for (TokenEvent e :
                  List.of(
                      new TokenEvent.Token(0, 5, "hi", Float.NaN, List.of()),
                      new TokenEvent.Finished(FinishReason.LENGTH, new Usage(7, 0, 1), "", null))) {
                vertx
                    .eventBus()
                    .send(StreamFrames.gatewayAddress("gw"), StreamFrames.event(stream, e, null));
              }
              vertx.setTimer(
                  100, t -> m.reply(new JsonObject().put("s", stream).put("positions", 7)));
            });
    table.update(new EngineLoad("racing", "m", 512, true, 0, 0, 0, 10, 1, new long[0]), 0);
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  private Backend.Job job() {
    JsonObject body =
        new JsonObject()
            .put(
                "messages",
                new JsonArray()
                    .add(
                        new JsonObject()
                            .put("role", "user")
                            .put("content", "hello " + "x".repeat(80))));
    return new Backend.Job(
        "chatcmpl-1",
        "1",
        Endpoint.CHAT_COMPLETIONS.parse(body, new RequestLimits(2, 64, 512, 1)),
        body,
        "m",
        Priority.INTERACTIVE);
  }

  private void engines(CacheKeys heldBySilent) {
    table.update(
        new EngineLoad("silent", "m", 512, true, 0, 0, 0, 10, 1, heldBySilent.prefix()), 0);
    table.update(new EngineLoad("answering", "m", 512, true, 0, 0, 0, 10, 1, new long[0]), 0);
  }

  private static void await(java.util.function.BooleanSupplier done) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!done.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "timed out");
      Thread.sleep(5);
    }
  }

  @Test
  void aRequestItsEngineHasNotTakenGoesToAnotherWhenThatEngineLeaves() throws Exception {
    Backend.Job job = job();
    engines(CacheKeys.of(job.body())); // the silent engine holds its prefix: routed there first
    var submitted = backend.prepare(job).result().submit();
    await(() -> toSilent.size() == 1);
    assertEquals(1.0, metrics.routedCount(CacheAwareRouter.How.CACHE));

    table.remove("silent");
    backend.engineGone("silent");

    Backend.Submitted s =
        submitted.toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertEquals(7, s.promptPositions());
    assertEquals(1, toAnswering.size());
    assertEquals(1.0, metrics.routedCount(CacheAwareRouter.How.FALLBACK));
    // The engine's frames reach the subscriber, then the stream completes.
    String stream = toAnswering.get(0).getString("s");
    vertx
        .eventBus()
        .send(
            StreamFrames.gatewayAddress("gw"),
            StreamFrames.event(
                stream, new TokenEvent.Token(0, 5, "hi", Float.NaN, List.of()), null));
    vertx
        .eventBus()
        .send(
            StreamFrames.gatewayAddress("gw"),
            StreamFrames.event(
                stream,
                new TokenEvent.Finished(FinishReason.STOP, new Usage(7, 0, 1), "", null),
                null));
    List<TokenEvent> events = s.events().toList().blockingGet(); // completes after the last
    assertEquals(2, events.size());
    assertEquals(0, backend.inFlight());
  }

  @Test
  void aRequestRunningOnAnEngineThatLeavesEndsWithARetryableError() throws Exception {
    Backend.Job job = job();
    engines(new CacheKeys(new long[0], new long[0]));
    table.remove("silent"); // only the answering engine
    Backend.Submitted s =
        backend
            .prepare(job)
            .result()
            .submit()
            .toCompletionStage()
            .toCompletableFuture()
            .get(5, TimeUnit.SECONDS);
    String stream = toAnswering.get(0).getString("s");
    vertx
        .eventBus()
        .send(
            StreamFrames.gatewayAddress("gw"),
            StreamFrames.event(
                stream, new TokenEvent.Token(0, 5, "hi", Float.NaN, List.of()), null));
    await(() -> backend.inFlight() == 1);
    Thread.sleep(50); // the token is in
    backend.engineGone("answering");
    s.events()
        .test()
        .awaitDone(5, TimeUnit.SECONDS)
        .assertValueCount(1)
        .assertError(
            t ->
                t instanceof ApiError e
                    && e.status() == 503
                    && "engine_unavailable".equals(e.code()));
    assertEquals(0, backend.inFlight());
  }

  @Test
  void aRequestWhoseLastFrameIsHandledBeforeItsEnginesReplyStillStartsAndEnds() throws Exception {
    racingEngine();
    Backend.Submitted s =
        backend
            .prepare(job())
            .result()
            .submit()
            .toCompletionStage()
            .toCompletableFuture()
            .get(5, TimeUnit.SECONDS);
    assertEquals(7, s.promptPositions());
    List<TokenEvent> events = s.events().toList().blockingGet();
    assertEquals(2, events.size());
    assertTrue(events.get(1) instanceof TokenEvent.Finished f && f.last());
    assertEquals(0, backend.inFlight());
  }
}
