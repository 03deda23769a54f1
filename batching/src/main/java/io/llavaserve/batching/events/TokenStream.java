package io.llavaserve.batching.events;

import io.reactivex.rxjava3.core.Flowable;
import io.reactivex.rxjava3.processors.UnicastProcessor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The stream of one request, shared by its choices: the engine thread emits into it, one subscriber
 * consumes it with backpressure. The engine reads {@link #backlog()} to stop decoding a sequence
 * whose consumer has fallen behind, so a slow reader holds its KV blocks but neither stalls the
 * other requests nor grows memory without bound.
 */
public final class TokenStream {

  private final UnicastProcessor<TokenEvent> processor = UnicastProcessor.create(16);
  private final AtomicLong delivered = new AtomicLong();
  private final Flowable<TokenEvent> flowable;
  private long produced; // engine thread only
  private int choicesLeft; // engine thread only
  private volatile boolean finished;

  /**
   * @param onCancel run when the subscriber cancels before the stream finished
   */
  public TokenStream(Runnable onCancel) {
    this(onCancel, 1);
  }

  /**
   * @param onCancel run when the subscriber cancels before every choice finished
   * @param choices how many choices emit into it; it completes after the last one's finish
   */
  public TokenStream(Runnable onCancel, int choices) {
    if (choices < 1) {
      throw new IllegalArgumentException("choices must be >= 1, got " + choices);
    }
    this.choicesLeft = choices;
    // RxJava reports a cancel even after completion; only one before the end is an abort.
    this.flowable =
        processor
            .doOnNext(e -> delivered.incrementAndGet())
            .doOnCancel(
                () -> {
                  if (!finished) {
                    onCancel.run();
                  }
                });
  }

  /** The consumer side; it may be subscribed once. */
  public Flowable<TokenEvent> flowable() {
    return flowable;
  }

  /**
   * Emits an event; the {@link TokenEvent.Finished} of the last choice still running is marked
   * {@link TokenEvent.Finished#last() last} and completes the stream.
   */
  public void emit(TokenEvent event) {
    produced++;
    if (event instanceof TokenEvent.Finished f) {
      if (choicesLeft == 0) {
        throw new IllegalStateException("every choice of this stream has finished already");
      }
      boolean last = --choicesLeft == 0;
      if (last) {
        finished = true;
      }
      processor.onNext(f.withLast(last));
      if (last) {
        processor.onComplete();
      }
    } else {
      processor.onNext(event);
    }
  }

  /** Whether every choice has finished (the stream is complete). */
  public boolean isComplete() {
    return finished;
  }

  /** Events emitted and not yet taken by the subscriber. */
  public long backlog() {
    return produced - delivered.get();
  }
}
