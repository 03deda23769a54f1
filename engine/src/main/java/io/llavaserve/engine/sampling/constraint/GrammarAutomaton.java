package io.llavaserve.engine.sampling.constraint;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link Grammar}'s pushdown matcher, determinised lazily: a {@link State} is the set of parse
 * stacks alive after some input (each stack's top is a byte set still to match; the empty stack
 * means the text so far is a complete sentence), and {@link #step} follows one byte, caching the
 * result on the state. Stacks are persistent linked frames, hash-consed so that equal stacks are
 * one object and a state is identified by the ids of its stacks.
 *
 * <p>Because repetitions are right-recursive and calls in tail position push nothing, a state of a
 * JSON grammar recurs wherever the same place in the schema recurs (every character inside one
 * string field is the same state), so the cached transitions and the token masks cached on states
 * ({@link TokenMasks}) serve most steps. Tables grow with use; past {@link #MAX_STATES} states they
 * are dropped and rebuilt.
 *
 * <p>Not thread-safe: owned by the engine thread, shared by all its sequences of one grammar.
 */
final class GrammarAutomaton {

  /** States kept before the caches are dropped. */
  static final int MAX_STATES = 50_000;

  private static final int MAX_EXPANSION_DEPTH = 10_000;

  /** The state after input no sentence starts with. */
  static final State DEAD = new State(new Frame[0], false, -1);

  private final Grammar grammar;
  private final Map<Long, Frame> frames = new HashMap<>();
  private final Map<StateKey, State> states = new HashMap<>();
  private final List<State> allStates = new ArrayList<>();
  private final State initial;
  private long generation;
  private int nextFrameId; // never reused, so frames of dropped tables stay distinct

  GrammarAutomaton(Grammar grammar) {
    this.grammar = grammar;
    this.initial = buildInitial();
  }

  Grammar grammar() {
    return grammar;
  }

  /** The state before any input. */
  State initial() {
    return initial;
  }

  /** Bumped each time the tables are dropped; states of older generations cache nothing. */
  long generation() {
    return generation;
  }

  int numStates() {
    return states.size();
  }

  /** The state after {@code s} reads byte {@code b} (0-255), {@link #DEAD} when nothing can. */
  State step(State s, int b) {
    State[] next = s.next;
    if (next != null) {
      State n = next[b];
      if (n != null) {
        return n;
      }
    } else if (s == DEAD) {
      return DEAD;
    }
    Expansion out = new Expansion();
    for (Frame f : s.stacks) {
      if (grammar.matches(grammar.element(f.pos), b)) {
        expand(f.pos + 1, f.parent, out, 0);
      }
    }
    State n = out.isEmpty() ? DEAD : intern(out);
    if (s.generation == generation) {
      if (s.next == null) {
        s.next = new State[256];
      }
      s.next[b] = n;
    }
    return n;
  }

  /** Follows every byte of {@code bytes}; {@link #DEAD} as soon as one cannot be read. */
  State walk(State s, byte[] bytes) {
    for (int i = 0; i < bytes.length && s != DEAD; i++) {
      s = step(s, bytes[i] & 0xFF);
    }
    return s;
  }

  /**
   * Adds to {@code out} the stacks that continue at {@code pos} (then at {@code parent}): through
   * the end of an alternative to its caller, into every alternative of a referenced rule, until a
   * byte set is on top.
   */
  private void expand(int pos, Frame parent, Expansion out, int depth) {
    if (depth > MAX_EXPANSION_DEPTH) {
      throw new IllegalStateException("grammar " + grammar.key() + " is left-recursive");
    }
    int e = grammar.element(pos);
    if (e == Grammar.END) {
      if (parent == null) {
        out.accepting = true;
      } else {
        expand(parent.pos, parent.parent, out, depth + 1);
      }
    } else if (Grammar.isRef(e)) {
      Frame cont = grammar.element(pos + 1) == Grammar.END ? parent : frame(pos + 1, parent);
      for (int start : grammar.alternativesOf(Grammar.ruleOf(e))) {
        expand(start, cont, out, depth + 1);
      }
    } else {
      out.add(frame(pos, parent));
    }
  }

  private Frame frame(int pos, Frame parent) {
    long key = ((long) (parent == null ? -1 : parent.id) << 32) | pos;
    Frame f = frames.get(key);
    if (f == null) {
      f = new Frame(pos, parent, nextFrameId++);
      frames.put(key, f);
    }
    return f;
  }

  private State intern(Expansion out) {
    Frame[] stacks = out.frames.toArray(new Frame[0]);
    Arrays.sort(stacks, (x, y) -> Integer.compare(x.id, y.id));
    StateKey key = keyOf(stacks, out.accepting);
    State s = states.get(key);
    if (s == null) {
      if (states.size() >= MAX_STATES) {
        reset();
      }
      s = new State(stacks, out.accepting, generation);
      states.put(key, s);
      allStates.add(s);
    }
    return s;
  }

  /**
   * Drops every cached state and transition. States still held by matchers stay valid (their stacks
   * are plain objects) but no longer cache: the next step from one re-enters the new tables.
   */
  private void reset() {
    for (State s : allStates) {
      s.next = null;
      s.mask = null; // TokenMasks forgets them: it checks the generation before caching
    }
    allStates.clear();
    states.clear();
    frames.clear();
    generation++;
    // The initial state is held for the automaton's life: it joins the new tables.
    initial.generation = generation;
    states.put(keyOf(initial.stacks, initial.accepting), initial);
    allStates.add(initial);
  }

  private static StateKey keyOf(Frame[] stacks, boolean accepting) {
    int[] ids = new int[stacks.length + 1];
    for (int i = 0; i < stacks.length; i++) {
      ids[i] = stacks[i].id;
    }
    ids[stacks.length] = accepting ? 1 : 0;
    return new StateKey(ids);
  }

  private State buildInitial() {
    Expansion out = new Expansion();
    expand(0, null, out, 0);
    return out.isEmpty() ? DEAD : intern(out);
  }

  /** One parse stack: matching {@code pos}, then returning to {@code parent}. */
  static final class Frame {
    final int pos;
    final Frame parent;
    final int id;

    Frame(int pos, Frame parent, int id) {
      this.pos = pos;
      this.parent = parent;
      this.id = id;
    }
  }

  /** A set of parse stacks; transitions and the token mask are cached on it. */
  static final class State {
    final Frame[] stacks;
    final boolean accepting;
    long generation; // the tables it caches into; older states cache nothing
    State[] next; // [256], filled on demand
    long[] mask; // allowed token ids, see TokenMasks

    State(Frame[] stacks, boolean accepting, long generation) {
      this.stacks = stacks;
      this.accepting = accepting;
      this.generation = generation;
    }

    /** Whether the input so far is a whole sentence. */
    boolean accepting() {
      return accepting;
    }

    /** Whether any byte can follow. */
    boolean canContinue() {
      return stacks.length > 0;
    }
  }

  /** Stacks gathered while expanding, without duplicates. */
  private static final class Expansion {
    final List<Frame> frames = new ArrayList<>(4);
    boolean accepting;

    void add(Frame f) {
      for (Frame g : frames) {
        if (g == f) {
          return;
        }
      }
      frames.add(f);
    }

    boolean isEmpty() {
      return frames.isEmpty() && !accepting;
    }
  }

  private record StateKey(int[] ids) {
    @Override
    public boolean equals(Object o) {
      return o instanceof StateKey k && Arrays.equals(k.ids, ids);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(ids);
    }
  }
}
