package io.llavaserve.web.lifecycle;

/**
 * The write side's backpressure, as a transport sees it: whether its outgoing queue is full, and a
 * callback for when it drains. A request's next token event is taken only through an open gate, so
 * a slow client holds back its own stream (and the engine stops decoding it) instead of filling
 * memory.
 */
public interface Gate {

  boolean full();

  /** Runs {@code action} once, when the queue has room again. */
  void whenDrained(Runnable action);

  /** A gate that never closes, for answers gathered whole. */
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
