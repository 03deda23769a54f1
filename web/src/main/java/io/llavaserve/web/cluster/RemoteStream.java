package io.llavaserve.web.cluster;

import io.llavaserve.batching.events.TokenEvent;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;
import org.reactivestreams.Publisher;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;

/**
 * The token events of one request running on a remote engine, as a gateway's transport consumes
 * them: frames arrive on the gateway's event-bus thread and wait here until requested; each request
 * from downstream is granted to the engine as credits, so no more than the engine's initial window
 * plus what the client has asked for ever waits here. A single subscriber; cancelling aborts the
 * request on its engine.
 */
final class RemoteStream implements Publisher<TokenEvent>, Subscription {

  enum State {
    /**
     * Sent to an engine whose reply has not been handled yet; its first frames, even its last, may
     * already be here.
     */
    PENDING,
    /** Taken by its engine; its events flow. */
    STARTED,
    /** Finished, failed, cancelled, or handed to another engine. */
    ENDED
  }

  final String id;
  final String engine;
  private final LongConsumer credit;
  private final Runnable cancelled;
  private final ArrayDeque<Object> queue = new ArrayDeque<>(); // TokenEvent, or a Throwable last
  private final AtomicInteger wip = new AtomicInteger();
  private State state = State.PENDING;
  private Subscriber<? super TokenEvent> subscriber;
  private long requested;
  private boolean done; // a terminal signal went downstream, or the subscriber cancelled

  /**
   * @param credit grants the engine that many more events
   * @param cancelled aborts the request on its engine and forgets the stream
   */
  RemoteStream(String id, String engine, LongConsumer credit, Runnable cancelled) {
    this.id = id;
    this.engine = engine;
    this.credit = credit;
    this.cancelled = cancelled;
  }

  /** PENDING to STARTED; false when the stream had already ended (lost, handed on). */
  synchronized boolean started() {
    if (state != State.PENDING) {
      return false;
    }
    state = State.STARTED;
    return true;
  }

  /** Ends the stream, returning the state it was in. */
  synchronized State end() {
    State was = state;
    state = State.ENDED;
    return was;
  }

  @Override
  public void subscribe(Subscriber<? super TokenEvent> s) {
    synchronized (this) {
      if (subscriber != null) {
        throw new IllegalStateException("a remote stream has one subscriber");
      }
      subscriber = s;
    }
    s.onSubscribe(this);
    drain();
  }

  /** An event from the engine. */
  void push(TokenEvent event) {
    synchronized (this) {
      queue.add(event);
    }
    drain();
  }

  /** The stream's end by failure; it follows the events already here. */
  void fail(Throwable error) {
    synchronized (this) {
      queue.add(error);
    }
    drain();
  }

  @Override
  public void request(long n) {
    if (n <= 0) {
      return;
    }
    synchronized (this) {
      requested += n;
    }
    credit.accept(n);
    drain();
  }

  @Override
  public void cancel() {
    synchronized (this) {
      if (done) {
        return;
      }
      done = true;
      queue.clear();
    }
    cancelled.run();
  }

  private void drain() {
    if (wip.getAndIncrement() != 0) {
      return;
    }
    do {
      while (true) {
        Object next;
        Subscriber<? super TokenEvent> s;
        synchronized (this) {
          s = subscriber;
          if (s == null || done || queue.isEmpty()) {
            break;
          }
          Object head = queue.peek();
          if (!(head instanceof Throwable) && requested == 0) {
            break;
          }
          next = queue.poll();
          if (next instanceof Throwable || next instanceof TokenEvent.Finished f && f.last()) {
            done = true;
          } else {
            requested--;
          }
        }
        if (next instanceof Throwable t) {
          s.onError(t);
        } else {
          s.onNext((TokenEvent) next);
          if (next instanceof TokenEvent.Finished f && f.last()) {
            s.onComplete();
          }
        }
      }
    } while (wip.decrementAndGet() != 0);
  }
}
