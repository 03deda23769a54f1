package io.llavaserve.engine.sampling.constraint;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Computes which token ids a state of a {@link GrammarAutomaton} allows, by walking the {@link
 * TokenTrie} with the automaton: each trie edge is one cached transition, and a refused prefix
 * prunes every token that starts with it. The end-of-sequence id is allowed exactly when the state
 * is a complete sentence. Masks are cached on the states (at most {@link #MAX_CACHED} per grammar,
 * {@code vocab / 8} bytes each), so a state that recurs (every step inside one string field, every
 * sequence at the same place of the same schema) costs a lookup. The special tokens a grammar names
 * are allowed where the automaton can read their text.
 *
 * <p>Not thread-safe: owned by the engine thread with its automaton.
 */
final class TokenMasks {

  /** Masks cached per grammar: 4 KiB each for a 32k vocabulary. */
  static final int MAX_CACHED = 512;

  private final GrammarAutomaton automaton;
  private final TokenTrie trie;
  private final int eosId;
  private final Map<Integer, byte[]> specialTokens; // id -> the text it stands for
  private final int words;
  private final List<GrammarAutomaton.State> cached = new ArrayList<>();
  private long computed;

  TokenMasks(GrammarAutomaton automaton, TokenTrie trie, int eosId) {
    this(automaton, trie, eosId, Map.of());
  }

  /**
   * @param specialTokens special tokens (not in the trie) that may stand for their text, by id
   */
  TokenMasks(
      GrammarAutomaton automaton, TokenTrie trie, int eosId, Map<Integer, byte[]> specialTokens) {
    this.automaton = automaton;
    this.trie = trie;
    this.eosId = eosId;
    this.specialTokens = Map.copyOf(specialTokens);
    int maxId = Math.max(trie.vocabSize(), eosId + 1);
    for (int id : specialTokens.keySet()) {
      maxId = Math.max(maxId, id + 1);
    }
    this.words = (maxId + 63) / 64;
  }

  GrammarAutomaton automaton() {
    return automaton;
  }

  TokenTrie trie() {
    return trie;
  }

  int eosId() {
    return eosId;
  }

  /** The text a token stands for: its bytes in the trie, or a named special token's text. */
  byte[] bytes(int id) {
    byte[] b = trie.bytes(id);
    return b != null ? b : specialTokens.get(id);
  }

  /** Masks computed by walking the trie (not served from the cache), for tests and benchmarks. */
  long computed() {
    return computed;
  }

  /** The ids allowed after the text that led to {@code s}. */
  TokenMask of(GrammarAutomaton.State s) {
    if (s.mask != null) {
      return new TokenMask(s.mask);
    }
    long[] m = new long[words];
    if (s.canContinue()) {
      walk(0, s, m);
      for (Map.Entry<Integer, byte[]> t : specialTokens.entrySet()) {
        if (automaton.walk(s, t.getValue()) != GrammarAutomaton.DEAD) {
          m[t.getKey() >>> 6] |= 1L << t.getKey();
        }
      }
    }
    if (s.accepting() && eosId >= 0) {
      m[eosId >>> 6] |= 1L << eosId;
    }
    computed++;
    if (s.generation == automaton.generation()) {
      if (cached.size() >= MAX_CACHED) {
        for (GrammarAutomaton.State c : cached) {
          c.mask = null;
        }
        cached.clear();
      }
      s.mask = m;
      cached.add(s);
    }
    return new TokenMask(m);
  }

  private void walk(int node, GrammarAutomaton.State s, long[] m) {
    for (int e = trie.firstEdge(node), end = trie.endEdge(node); e < end; e++) {
      GrammarAutomaton.State t = automaton.step(s, trie.edgeByte(e));
      if (t == GrammarAutomaton.DEAD) {
        continue;
      }
      int child = trie.edgeTarget(e);
      for (int k = trie.firstToken(child), kEnd = trie.endToken(child); k < kEnd; k++) {
        int id = trie.tokenAt(k);
        m[id >>> 6] |= 1L << id;
      }
      if (t.canContinue()) {
        walk(child, t, m);
      }
    }
  }
}
