package io.llavaserve.engine.sampling.constraint;

import java.nio.charset.StandardCharsets;

/** Runs text through a grammar's automaton byte by byte, for tests. */
final class GrammarText {

  private final GrammarAutomaton automaton;

  GrammarText(Grammar grammar) {
    this.automaton = new GrammarAutomaton(grammar);
  }

  /** The length in bytes of the longest prefix of {@code text} that some sentence starts with. */
  int viablePrefix(String text) {
    return viablePrefix(text.getBytes(StandardCharsets.UTF_8));
  }

  /** The length of the longest viable prefix of raw {@code bytes}. */
  int viablePrefix(byte[] bytes) {
    GrammarAutomaton.State s = automaton.initial();
    for (int i = 0; i < bytes.length; i++) {
      s = automaton.step(s, bytes[i] & 0xFF);
      if (s == GrammarAutomaton.DEAD) {
        return i;
      }
    }
    return bytes.length;
  }

  /** Whether every prefix of {@code text} is viable. */
  boolean isPrefix(String text) {
    return viablePrefix(text) == text.getBytes(StandardCharsets.UTF_8).length;
  }

  /** Whether {@code text} is a whole sentence. */
  boolean accepts(String text) {
    GrammarAutomaton.State s =
        automaton.walk(automaton.initial(), text.getBytes(StandardCharsets.UTF_8));
    return s != GrammarAutomaton.DEAD && s.accepting();
  }
}
