package io.llavaserve.engine.sampling.constraint;

/**
 * Where one sequence is in its grammar: which token ids may come next ({@link #allowed()}) and the
 * state after each token it took ({@link #accept}). End-of-sequence is allowed only once the text
 * is a complete value; after a complete value that nothing can extend, it is the only id allowed.
 * The state depends only on the tokens accepted, so a sequence that is preempted and recomputed
 * keeps its matcher as it is (its output tokens are kept too).
 *
 * <p>Not thread-safe: owned by the engine thread, one per constrained sequence.
 */
public final class GrammarMatcher {

  private final TokenMasks masks;
  private GrammarAutomaton.State state;
  private boolean ended;

  GrammarMatcher(TokenMasks masks) {
    this.masks = masks;
    this.state = masks.automaton().initial();
  }

  /** The ids the next token may be. */
  public TokenMask allowed() {
    if (ended) {
      return new TokenMask(new long[0]);
    }
    return masks.of(state);
  }

  /**
   * Moves past token {@code id}.
   *
   * @throws IllegalArgumentException when the grammar does not allow it here
   */
  public void accept(int id) {
    if (ended) {
      throw new IllegalStateException("the grammar already ended with end-of-sequence");
    }
    if (id == masks.eosId()) {
      if (!state.accepting()) {
        throw new IllegalArgumentException("end-of-sequence before the value is complete");
      }
      ended = true;
      return;
    }
    byte[] text = masks.bytes(id);
    GrammarAutomaton.State next =
        text == null ? GrammarAutomaton.DEAD : masks.automaton().walk(state, text);
    if (next == GrammarAutomaton.DEAD) {
      throw new IllegalArgumentException("token " + id + " is not allowed by the grammar here");
    }
    state = next;
  }

  /** Whether the text so far is a complete value (end-of-sequence is allowed). */
  public boolean isComplete() {
    return state.accepting();
  }

  /** Whether some token other than end-of-sequence can still follow. */
  public boolean canContinue() {
    return !ended && state.canContinue();
  }

  /** Whether end-of-sequence was accepted. */
  public boolean isEnded() {
    return ended;
  }
}
