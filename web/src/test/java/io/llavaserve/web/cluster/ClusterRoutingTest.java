package io.llavaserve.web.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.sampling.FinishReason;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;

/** The gateway's routing, cache keys and remote streams, without a cluster. */
class ClusterRoutingTest {

  private static final CacheKeys NONE = new CacheKeys(new long[0], new long[0]);

  private static JsonObject chat(String image, String text) {
    JsonArray content = new JsonArray();
    if (image != null) {
      content.add(
          new JsonObject()
              .put("type", "image_url")
              .put("image_url", new JsonObject().put("url", image)));
    }
    content.add(new JsonObject().put("type", "text").put("text", text));
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)));
  }

  private static EngineLoad load(String node, int running, int waiting, long... summary) {
    return new EngineLoad(node, "m", 2048, true, running, waiting, 0, 100, 1, summary);
  }

  @Test
  void theSameBodyGivesTheSameKeysAndALongerPromptExtendsTheChain() {
    String text = "x".repeat(200);
    CacheKeys a = CacheKeys.of(chat("data:image/png;base64,AAAA", text));
    CacheKeys b = CacheKeys.of(chat("data:image/png;base64,AAAA", text + "y".repeat(100)));
    CacheKeys other = CacheKeys.of(chat("data:image/png;base64,BBBB", text));
    assertEquals(1, a.images().length);
    assertEquals(a.images()[0], b.images()[0]);
    assertTrue(a.images()[0] != other.images()[0]);
    assertTrue(b.prefix().length > a.prefix().length);
    for (int i = 0; i < a.prefix().length; i++) {
      assertEquals(a.prefix()[i], b.prefix()[i], "block " + i);
    }
    assertTrue(a.prefix()[0] != other.prefix()[0], "the image is part of the prefix");
  }

  @Test
  void theEngineHoldingTheImageGetsItUntilItIsTooLoaded() {
    CacheKeys keys = CacheKeys.of(chat("data:image/png;base64,AAAA", "what?"));
    CacheAwareRouter router = new CacheAwareRouter(4, 1.5);
    EngineTable table = new EngineTable();
    table.update(load("holder", 3, 0, keys.images()), 0);
    table.update(load("idle", 0, 0), 0);
    CacheAwareRouter.Route r = router.route(table.candidates("m", keys, Set.of()));
    assertEquals(new CacheAwareRouter.Route("holder", CacheAwareRouter.How.CACHE), r);

    table.update(load("holder", 5, 1, keys.images()), 1); // 6 - 0 > 4 and 6 > 0 * 1.5
    r = router.route(table.candidates("m", keys, Set.of()));
    assertEquals(new CacheAwareRouter.Route("idle", CacheAwareRouter.How.LOAD), r);

    r = router.route(table.candidates("m", NONE, Set.of()));
    assertEquals(CacheAwareRouter.How.LOAD, r.how());
    assertEquals("idle", r.node());
    assertNull(router.route(table.candidates("m", keys, Set.of("holder", "idle"))));
    assertNull(router.route(table.candidates("other-model", keys, Set.of())));
  }

  @Test
  void withoutCacheAwarenessTheLeastLoadedEngineGetsARequestItsImagesHolderWouldHave() {
    CacheKeys keys = CacheKeys.of(chat("data:image/png;base64,AAAA", "what?"));
    EngineTable table = new EngineTable();
    table.update(load("holder", 1, 0, keys.images()), 0);
    table.update(load("idle", 0, 0), 0);
    assertEquals(
        new CacheAwareRouter.Route("holder", CacheAwareRouter.How.CACHE),
        new CacheAwareRouter(32, 1.0001, true).route(table.candidates("m", keys, Set.of())));
    assertEquals(
        new CacheAwareRouter.Route("idle", CacheAwareRouter.How.LOAD),
        new CacheAwareRouter(32, 1.0001, false).route(table.candidates("m", keys, Set.of())));
  }

  @Test
  void aRequestSentToAnEngineCountsAsHeldThereBeforeTheEngineSaysSo() {
    CacheKeys keys = CacheKeys.of(chat(null, "p".repeat(300)));
    EngineTable table = new EngineTable();
    table.update(load("a", 0, 0), 0);
    table.update(load("b", 0, 0), 0);
    table.sent("b", keys);
    CacheAwareRouter.Route r =
        new CacheAwareRouter(32, 1.0001).route(table.candidates("m", keys, Set.of()));
    assertEquals(new CacheAwareRouter.Route("b", CacheAwareRouter.How.CACHE), r);
  }

  @Test
  void aStoppingEngineGetsNoNewRequestsEvenWhenItHoldsTheImage() {
    CacheKeys keys = CacheKeys.of(chat("data:image/png;base64,AAAA", "what?"));
    EngineTable table = new EngineTable();
    table.update(new EngineLoad("stopping", "m", 2048, false, 0, 0, 0, 100, 1, keys.images()), 0);
    table.update(load("other", 9, 0), 0);
    CacheAwareRouter.Route r =
        new CacheAwareRouter(32, 1.0001).route(table.candidates("m", keys, Set.of()));
    assertEquals(new CacheAwareRouter.Route("other", CacheAwareRouter.How.LOAD), r);
  }

  @Test
  void engineLoadsSurviveTheirJson() {
    EngineLoad l = load("n", 2, 3, 7L, -9L);
    EngineLoad back = EngineLoad.fromJson(new JsonObject(l.toJson().encode()));
    assertEquals(l.withoutSummary(), back.withoutSummary());
    assertArrayEquals(l.summary(), back.summary());
  }

  @Test
  void anEnginesToolCallSyntaxSurvivesItsJsonAndTheTableTellsItByModel() {
    EngineLoad l = load("n", 2, 3);
    ToolCallSyntax mistral =
        new ToolCallSyntax(
            io.llavaserve.engine.prompt.ToolCallFormat.MISTRAL,
            io.llavaserve.engine.prompt.ToolCallIds.MISTRAL);
    EngineLoad m =
        new EngineLoad(
            l.node(),
            l.model(),
            l.maxModelLen(),
            l.accepting(),
            l.running(),
            l.waiting(),
            l.kvBlocksUsed(),
            l.kvBlocksTotal(),
            l.summaryVersion(),
            null,
            mistral);
    EngineLoad back = EngineLoad.fromJson(new JsonObject(m.toJson().encode()));
    assertEquals(mistral, back.toolCalls());
    assertEquals(
        ToolCallSyntax.DEFAULT,
        EngineLoad.fromJson(new JsonObject(l.toJson().encode())).toolCalls());
    for (ToolCallSyntax other :
        new ToolCallSyntax[] {
          new ToolCallSyntax(
              io.llavaserve.engine.prompt.ToolCallFormat.MISTRAL_V11,
              io.llavaserve.engine.prompt.ToolCallIds.MISTRAL),
          ToolCallSyntax.OFF
        }) {
      EngineLoad o =
          new EngineLoad(
              l.node(),
              l.model(),
              l.maxModelLen(),
              l.accepting(),
              l.running(),
              l.waiting(),
              l.kvBlocksUsed(),
              l.kvBlocksTotal(),
              l.summaryVersion(),
              null,
              other);
      assertEquals(other, EngineLoad.fromJson(new JsonObject(o.toJson().encode())).toolCalls());
    }
    // A node that names only the parser (no format) is read by it.
    JsonObject older = m.toJson();
    older.remove("tool_call_format");
    assertEquals(mistral, EngineLoad.fromJson(older).toolCalls());
    EngineTable table = new EngineTable();
    assertEquals(ToolCallSyntax.DEFAULT, table.toolCalls(l.model()));
    table.update(back, 0);
    assertEquals(mistral, table.toolCalls(l.model()));
    assertEquals(ToolCallSyntax.DEFAULT, table.toolCalls("another"));
  }

  @Test
  void tokenEventsSurviveTheirFrames() {
    TokenEvent.Token t = new TokenEvent.Token(1, 4, 42, "hé", -0.5f, List.of());
    TokenEvent.Token nan = new TokenEvent.Token(0, 0, 7, "", Float.NaN, List.of());
    TokenEvent.Finished f =
        new TokenEvent.Finished(1, true, FinishReason.LENGTH, new Usage(10, 4, 3), "", null);
    for (TokenEvent e : List.of(t, f)) {
      assertEquals(
          e, StreamFrames.toEvent(new JsonObject(StreamFrames.event("s", e, null).encode())));
    }
    TokenEvent.Token back =
        (TokenEvent.Token)
            StreamFrames.toEvent(new JsonObject(StreamFrames.event("s", nan, null).encode()));
    assertTrue(Float.isNaN(back.logprob()));
  }

  @Test
  void aRemoteStreamHoldsEventsUntilRequestedAndGrantsWhatItsSubscriberRequests() {
    AtomicLong credits = new AtomicLong();
    List<TokenEvent> seen = new ArrayList<>();
    boolean[] completed = {false};
    RemoteStream stream = new RemoteStream("s", "e", credits::addAndGet, () -> {});
    for (int i = 0; i < 3; i++) {
      stream.push(new TokenEvent.Token(i, i, "t", Float.NaN, List.of()));
    }
    stream.push(new TokenEvent.Finished(FinishReason.STOP, new Usage(1, 0, 3), "", null));
    Subscription[] sub = new Subscription[1];
    stream.subscribe(
        new Subscriber<>() {
          public void onSubscribe(Subscription s) {
            sub[0] = s;
          }

          public void onNext(TokenEvent e) {
            seen.add(e);
          }

          public void onError(Throwable t) {
            throw new AssertionError(t);
          }

          public void onComplete() {
            completed[0] = true;
          }
        });
    assertEquals(0, seen.size());
    sub[0].request(2);
    assertEquals(2, seen.size());
    assertEquals(2, credits.get());
    sub[0].request(5);
    assertEquals(4, seen.size());
    assertTrue(completed[0]);
  }
}
