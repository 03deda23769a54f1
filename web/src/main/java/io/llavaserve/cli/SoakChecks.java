package io.llavaserve.cli;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The soak run's greedy checks: a fixed set of prompts (text, and text with an image) whose answers
 * are first taken alone, one request at a time, over each wire; under load the same request must
 * give the same tokens in the same order and the same text, with {@code usage.completion_tokens}
 * equal to the tokens streamed.
 */
final class SoakChecks {

  /**
   * An answer as the wire gave it alone.
   *
   * @param text the whole answer
   * @param tokens the token keys in order (see {@link BenchStats.Trace#tokens})
   */
  record Reference(String text, List<String> tokens) {}

  private final List<BenchPrompts.Prompt> prompts;
  private final Map<SoakClient.Wire, List<Reference>> references =
      new EnumMap<>(SoakClient.Wire.class);

  /**
   * {@code count} prompts of {@code words} words, every other one with an image when {@code
   * images}.
   */
  SoakChecks(long seed, int words, int count, boolean images) {
    BenchPrompts text = new BenchPrompts(seed ^ 0x5eedL, words, false);
    BenchPrompts withImage = new BenchPrompts(seed ^ 0x1a6eL, words, true);
    prompts = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      prompts.addAll((images && i % 2 == 1 ? withImage : text).next("check", 1));
    }
  }

  List<BenchPrompts.Prompt> prompts() {
    return prompts;
  }

  /** Keeps the answer {@code wire} gave alone to prompt {@code index}. */
  void reference(SoakClient.Wire wire, int index, BenchStats.Trace alone) {
    List<Reference> list = references.computeIfAbsent(wire, w -> new ArrayList<>());
    while (list.size() <= index) {
      list.add(null);
    }
    list.set(index, new Reference(alone.text(), alone.tokens()));
  }

  Reference reference(SoakClient.Wire wire, int index) {
    return references.get(wire).get(index);
  }

  /**
   * Where the wires' answers alone disagree with each other (text or token count), one line each;
   * empty when they agree.
   */
  List<String> disagreements() {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      Reference first = null;
      SoakClient.Wire firstWire = null;
      for (Map.Entry<SoakClient.Wire, List<Reference>> e : references.entrySet()) {
        Reference r = e.getValue().get(i);
        if (first == null) {
          first = r;
          firstWire = e.getKey();
        } else if (!r.text().equals(first.text()) || r.tokens().size() != first.tokens().size()) {
          out.add(
              String.format(
                  "check prompt %d: %s answered %d tokens %s alone, %s %d tokens %s",
                  i,
                  firstWire,
                  first.tokens().size(),
                  quote(first.text()),
                  e.getKey(),
                  r.tokens().size(),
                  quote(r.text())));
        }
      }
    }
    return out;
  }

  /**
   * What is wrong with {@code t} against {@code ref}: null when it matches, else the defect as the
   * totals count it.
   */
  static String compare(Reference ref, BenchStats.Trace t) {
    if (t.disorder() != null) {
      return "reordered tokens";
    }
    List<String> got = t.tokens();
    List<String> want = ref.tokens();
    if (got.size() < want.size()) {
      return "lost tokens";
    }
    if (got.size() > want.size()) {
      return "duplicated tokens";
    }
    if (!got.equals(want)) {
      List<String> a = new ArrayList<>(got);
      List<String> b = new ArrayList<>(want);
      a.sort(null);
      b.sort(null);
      return a.equals(b) ? "reordered tokens" : "different tokens";
    }
    if (!t.text().equals(ref.text())) {
      return "different text";
    }
    if (t.usageTokens() >= 0 && t.usageTokens() != got.size()) {
      return "usage.completion_tokens != tokens streamed";
    }
    return null;
  }

  /** A short, printable excerpt of an answer. */
  static String quote(String text) {
    String s = text.length() > 60 ? text.substring(0, 60) + "..." : text;
    return "\"" + s.replace("\n", "\\n") + "\"";
  }
}
