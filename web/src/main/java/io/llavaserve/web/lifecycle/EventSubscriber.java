package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.events.TokenEvent;
import io.reactivex.rxjava3.core.FlowableSubscriber;
import java.util.concurrent.Executor;
import org.reactivestreams.Subscription;

/**
 * Carries one request's token events from the engine thread to its transport's thread, one event at
 * a time: the next is requested only when the transport's {@link Gate} is open.
 */
final class EventSubscriber implements FlowableSubscriber<TokenEvent> {

  /** What happens to each event, on the transport's thread. */
  interface Sink {
    void onEvent(TokenEvent event);

    void onFailure(Throwable failure);
  }

  private final Executor thread;
  private final Gate gate;
  private final Sink sink;
  private volatile Subscription subscription;
  private volatile boolean cancelled;
  private boolean finished; // transport thread only

  /**
   * @param thread runs each task later, in order, on the transport's one thread
   */
  EventSubscriber(Executor thread, Gate gate, Sink sink) {
    this.thread = thread;
    this.gate = gate;
    this.sink = sink;
  }

  @Override
  public void onSubscribe(Subscription s) {
    subscription = s;
    s.request(1);
  }

  @Override
  public void onNext(TokenEvent event) {
    thread.execute(() -> deliver(event));
  }

  private void deliver(TokenEvent event) {
    if (cancelled) {
      return;
    }
    if (event instanceof TokenEvent.Finished f && f.last()) {
      finished = true;
    }
    sink.onEvent(event);
    if (!finished && !cancelled) {
      if (gate.full()) {
        gate.whenDrained(this::requestOne);
      } else {
        requestOne();
      }
    }
  }

  private void requestOne() {
    if (!cancelled) {
      subscription.request(1);
    }
  }

  @Override
  public void onError(Throwable t) {
    thread.execute(
        () -> {
          if (!cancelled) {
            finished = true;
            sink.onFailure(t);
          }
        });
  }

  @Override
  public void onComplete() {}

  /** Stops delivery and, unless the stream already finished, aborts the request in the engine. */
  void cancel() {
    if (cancelled) {
      return;
    }
    cancelled = true;
    Subscription s = subscription;
    if (s != null && !finished) {
      s.cancel();
    }
  }
}
