package io.llavaserve.batching.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.sampling.FinishReason;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class TokenStreamTest {

  private static TokenEvent.Token token(int i) {
    return new TokenEvent.Token(i, 100 + i, "t" + i, Float.NaN, List.of());
  }

  private static TokenEvent.Finished finished() {
    return new TokenEvent.Finished(FinishReason.STOP, new Usage(3, 0, 2), "", null);
  }

  @Test
  void theBacklogIsWhatTheSubscriberHasNotTakenYet() {
    TokenStream stream = new TokenStream(() -> {});
    TestSubscriber<TokenEvent> sub = new TestSubscriber<>(0);
    stream.flowable().subscribe(sub);
    stream.emit(token(0));
    stream.emit(token(1));
    stream.emit(token(2));
    assertEquals(3, stream.backlog());
    sub.request(2);
    assertEquals(1, stream.backlog());
    sub.assertValueCount(2);
    sub.request(10);
    assertEquals(0, stream.backlog());
  }

  @Test
  void finishedCompletesTheStreamInOrder() {
    TokenStream stream = new TokenStream(() -> {});
    TestSubscriber<TokenEvent> sub = stream.flowable().test();
    stream.emit(token(0));
    stream.emit(token(1));
    stream.emit(finished());
    sub.assertComplete();
    sub.assertValueCount(3);
    assertEquals(0, ((TokenEvent.Token) sub.values().get(0)).index());
    assertEquals(1, ((TokenEvent.Token) sub.values().get(1)).index());
    assertTrue(sub.values().get(2) instanceof TokenEvent.Finished);
  }

  @Test
  void cancellingBeforeTheEndRunsTheAbortOnce() {
    AtomicInteger aborts = new AtomicInteger();
    TokenStream stream = new TokenStream(aborts::incrementAndGet);
    TestSubscriber<TokenEvent> sub = stream.flowable().test();
    stream.emit(token(0));
    sub.cancel();
    sub.cancel();
    assertEquals(1, aborts.get());
    // Events the engine still emits before it sees the abort go nowhere and hurt nothing.
    stream.emit(token(1));
    stream.emit(finished());
    sub.assertValueCount(1);
  }

  @Test
  void aCompletedStreamIsNotAborted() {
    AtomicInteger aborts = new AtomicInteger();
    TokenStream stream = new TokenStream(aborts::incrementAndGet);
    TestSubscriber<TokenEvent> sub = stream.flowable().test();
    stream.emit(finished());
    sub.assertComplete();
    sub.cancel();
    assertEquals(0, aborts.get());
  }

  @Test
  void theStreamTakesOneSubscriber() {
    TokenStream stream = new TokenStream(() -> {});
    TestSubscriber<TokenEvent> first = stream.flowable().test();
    TestSubscriber<TokenEvent> second = stream.flowable().test();
    second.assertError(IllegalStateException.class);
    stream.emit(token(0));
    first.assertValueCount(1);
    assertFalse(first.values().isEmpty());
  }
}
