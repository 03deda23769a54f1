package io.llavaserve.engine.sampling.constraint;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Makes the {@link GrammarMatcher}s of one engine: the tokenizer's {@link TokenTrie} (built at the
 * first constrained request, so an engine that never sees one pays nothing) and, per grammar, its
 * automaton with the token masks cached on its states, kept for the {@link #MAX_GRAMMARS} grammars
 * used most recently. Sequences of one grammar share them, so 32 requests with the same schema
 * compute each recurring mask once.
 *
 * <p>Not thread-safe: owned by the engine thread.
 */
public final class GrammarMatchers {

  /** Grammars whose automata and masks are kept. */
  public static final int MAX_GRAMMARS = 32;

  private final Tokenizer tokenizer;
  private final int eosId;
  private TokenTrie trie;
  private final Map<String, TokenMasks> byKey =
      new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, TokenMasks> eldest) {
          return size() > MAX_GRAMMARS;
        }
      };

  /**
   * @param tokenizer the engine's tokenizer, whose token texts the grammars match
   * @param eosId the id that ends a sequence, allowed once the value is complete; -1 for none
   */
  public GrammarMatchers(Tokenizer tokenizer, int eosId) {
    this.tokenizer = tokenizer;
    this.eosId = eosId;
  }

  /**
   * The special tokens {@code grammar} names that this tokenizer has, by id, each with its text's
   * bytes; a name the tokenizer lacks, or holds as an ordinary piece (already in the trie), adds
   * nothing.
   */
  private Map<Integer, byte[]> specialTokens(Grammar grammar) {
    Map<Integer, byte[]> out = new LinkedHashMap<>();
    for (String text : grammar.specialTokens()) {
      tokenizer
          .tokenId(text)
          .ifPresent(
              id -> {
                if (tokenizer.tokenBytes(id) == null) {
                  out.put(id, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                }
              });
    }
    return out;
  }

  /** A matcher at the start of {@code grammar}. */
  public GrammarMatcher matcher(Grammar grammar) {
    if (trie == null) {
      trie = TokenTrie.of(tokenizer);
    }
    TokenMasks masks = byKey.get(grammar.key());
    if (masks == null) {
      masks = new TokenMasks(new GrammarAutomaton(grammar), trie, eosId, specialTokens(grammar));
      byKey.put(grammar.key(), masks);
    }
    return new GrammarMatcher(masks);
  }
}
