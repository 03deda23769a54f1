package io.llavaserve.web.http;

import io.llavaserve.batching.events.TokenEvent;
import io.reactivex.rxjava3.core.FlowableSubscriber;
import io.vertx.core.Context;
import org.reactivestreams.Subscription;

/**
 * Carries one request's token events from the engine thread to a connection's Vert.x context, one
 * event at a time: the next is requested only when the connection can take more, so a slow client
 * holds back its own stream (and the engine stops decoding it) instead of filling memory.
 */
public final class EventSubscriber implements FlowableSubscriber<TokenEvent> {

  /** What happens to each event, on the connection's context. */
  public interface Sink {
    void onEvent(TokenEvent event);

    void onFailure(Throwable failure);
  }

  /** The write side's backpressure: whether it is full, and a callback for when it drains. */
  public interface Gate {
    boolean full();

    void whenDrained(Runnable action);

    /** A gate that never closes, for answers buffered whole. */
    Gate OPEN =
        new Gate() {
          @Override
          public boolean full() {
            return false;
          }

          @Override
          public void whenDrained(Runnable action) {
            action.run();
          }
        };
  }

  private final Context context;
  private final Gate gate;
  private final Sink sink;
  private volatile Subscription subscription;
  private volatile boolean cancelled;
  private boolean finished; // context only

  public EventSubscriber(Context context, Gate gate, Sink sink) {
    this.context = context;
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
    context.runOnContext(v -> deliver(event));
  }

  private void deliver(TokenEvent event) {
    if (cancelled) {
      return;
    }
    if (event instanceof TokenEvent.Finished) {
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
    context.runOnContext(
        v -> {
          if (!cancelled) {
            finished = true;
            sink.onFailure(t);
          }
        });
  }

  @Override
  public void onComplete() {}

  /** Stops delivery and, unless the stream already finished, aborts the request in the engine. */
  public void cancel() {
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
