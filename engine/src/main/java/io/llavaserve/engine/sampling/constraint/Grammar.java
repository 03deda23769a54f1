package io.llavaserve.engine.sampling.constraint;

import java.util.Arrays;

/**
 * A context-free grammar over bytes, compiled for a pushdown matcher in the style of llama.cpp's
 * GBNF: each rule is a list of alternatives, each alternative a sequence of elements, each element
 * a byte set or a reference to a rule. Immutable and shared between threads; what a sequence has
 * matched so far lives in a {@link GrammarMatcher}.
 *
 * <p>Layout: every alternative is stored in {@link #code} as its elements followed by {@link #END};
 * an element {@code e >= 0} is the byte set {@code sets[e]}, {@code e <= -2} refers to rule {@code
 * -2 - e}. Position 0 holds the start alternative {@code [ref(root), END]}. No rule may derive
 * itself without consuming a byte (no left recursion): the compilers in this package build
 * repetition by right recursion.
 *
 * <p>Tokens without text of their own (added and special tokens) never match, except the special
 * tokens a grammar names ({@link #specialTokens()}): each may stand for its text wherever that text
 * may come, so that Mistral's {@code [TOOL_CALLS]} can be the token the model was trained to write.
 *
 * @see JsonSchemaGrammar
 */
public final class Grammar {

  /** Ends an alternative. */
  static final int END = -1;

  private final int[] code;
  private final int[][] alternatives; // [rule] -> start positions in code
  private final long[][] sets; // [set] -> 4 words, bit b set when byte b matches
  private final String[] ruleNames;
  private final String key;
  private final java.util.List<String> specialTokens;

  Grammar(
      int[] code,
      int[][] alternatives,
      long[][] sets,
      String[] ruleNames,
      String key,
      java.util.List<String> specialTokens) {
    this.code = code;
    this.alternatives = alternatives;
    this.sets = sets;
    this.ruleNames = ruleNames;
    this.key = key;
    this.specialTokens = java.util.List.copyOf(specialTokens);
  }

  static int ref(int rule) {
    return -2 - rule;
  }

  static boolean isRef(int element) {
    return element <= -2;
  }

  static int ruleOf(int element) {
    return -2 - element;
  }

  /** Identifies what this grammar matches (a digest of its source): equal keys, equal grammars. */
  public String key() {
    return key;
  }

  /** The texts of the special tokens that may stand for their text in this grammar. */
  public java.util.List<String> specialTokens() {
    return specialTokens;
  }

  public int numRules() {
    return alternatives.length;
  }

  /** Elements over all alternatives: the size of the compiled grammar. */
  public int size() {
    return code.length;
  }

  int element(int position) {
    return code[position];
  }

  int[] alternativesOf(int rule) {
    return alternatives[rule];
  }

  boolean matches(int set, int b) {
    return (sets[set][b >>> 6] & (1L << b)) != 0;
  }

  String ruleName(int rule) {
    return ruleNames[rule];
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Grammar g && g.key.equals(key);
  }

  @Override
  public int hashCode() {
    return key.hashCode();
  }

  @Override
  public String toString() {
    return "Grammar[" + key + ", " + alternatives.length + " rules, " + code.length + " elements]";
  }

  /** Rules being defined; {@link #build} lays them out. */
  static final class Builder {
    private final java.util.List<String> names = new java.util.ArrayList<>();
    private final java.util.List<int[][]> bodies = new java.util.ArrayList<>();
    private final java.util.List<long[]> sets = new java.util.ArrayList<>();
    private final java.util.Map<SetKey, Integer> setIds = new java.util.HashMap<>();

    /** A new rule, to be {@link #define}d before {@link #build}. */
    int rule(String name) {
      names.add(name);
      bodies.add(null);
      return names.size() - 1;
    }

    /** Gives {@code rule} its alternatives, each a sequence of elements. */
    void define(int rule, int[]... alternatives) {
      if (bodies.get(rule) != null) {
        throw new IllegalStateException("rule " + names.get(rule) + " is defined twice");
      }
      bodies.set(rule, alternatives.clone());
    }

    /** A rule with the given alternatives. */
    int rule(String name, int[]... alternatives) {
      int r = rule(name);
      define(r, alternatives);
      return r;
    }

    /** The element matching the bytes in {@code [from, to]}. */
    int range(int from, int to) {
      long[] bits = new long[4];
      for (int b = from; b <= to; b++) {
        bits[b >>> 6] |= 1L << b;
      }
      return set(bits);
    }

    int set(long[] bits) {
      return setIds.computeIfAbsent(
          new SetKey(bits.clone()),
          k -> {
            sets.add(k.bits());
            return sets.size() - 1;
          });
    }

    /** The elements matching these bytes in order. */
    int[] literal(byte[] bytes) {
      int[] out = new int[bytes.length];
      for (int i = 0; i < bytes.length; i++) {
        int b = bytes[i] & 0xFF;
        out[i] = range(b, b);
      }
      return out;
    }

    int[] literal(String text) {
      return literal(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    Grammar build(int root, String key) {
      return build(root, key, java.util.List.of());
    }

    /** As {@link #build(int, String)}, letting these special tokens stand for their text. */
    Grammar build(int root, String key, java.util.List<String> specialTokens) {
      checkNotLeftRecursive();
      IntList code = new IntList();
      code.add(ref(root));
      code.add(END);
      int[][] starts = new int[bodies.size()][];
      for (int r = 0; r < bodies.size(); r++) {
        int[][] body = bodies.get(r);
        if (body == null) {
          throw new IllegalStateException("rule " + names.get(r) + " was never defined");
        }
        starts[r] = new int[body.length];
        for (int a = 0; a < body.length; a++) {
          starts[r][a] = code.size();
          for (int e : body[a]) {
            code.add(e);
          }
          code.add(END);
        }
      }
      return new Grammar(
          code.toArray(),
          starts,
          sets.toArray(new long[0][]),
          names.toArray(new String[0]),
          key,
          specialTokens);
    }

    /**
     * Refuses a rule that can reach itself before reading a byte (say, two $refs naming each
     * other), which would send the matcher's expansion round in a circle.
     */
    private void checkNotLeftRecursive() {
      int n = bodies.size();
      boolean[] nullable = new boolean[n];
      for (boolean changed = true; changed; ) {
        changed = false;
        for (int r = 0; r < n; r++) {
          if (!nullable[r] && bodies.get(r) != null) {
            for (int[] alt : bodies.get(r)) {
              boolean all = true;
              for (int e : alt) {
                all &= isRef(e) && nullable[ruleOf(e)];
              }
              if (all) {
                nullable[r] = changed = true;
                break;
              }
            }
          }
        }
      }
      int[] mark = new int[n]; // 0 unvisited, 1 on the path, 2 done
      for (int r = 0; r < n; r++) {
        leftCorners(r, nullable, mark);
      }
    }

    private void leftCorners(int r, boolean[] nullable, int[] mark) {
      if (mark[r] == 2 || bodies.get(r) == null) {
        return;
      }
      if (mark[r] == 1) {
        throw new IllegalStateException(
            "the grammar is left-recursive: rule '" + names.get(r) + "' reaches itself");
      }
      mark[r] = 1;
      for (int[] alt : bodies.get(r)) {
        for (int e : alt) {
          if (!isRef(e)) {
            break;
          }
          leftCorners(ruleOf(e), nullable, mark);
          if (!nullable[ruleOf(e)]) {
            break;
          }
        }
      }
      mark[r] = 2;
    }
  }

  /** Concatenates element sequences. */
  static int[] seq(Object... parts) {
    IntList out = new IntList();
    for (Object p : parts) {
      if (p instanceof Integer i) {
        out.add(i);
      } else if (p instanceof int[] a) {
        for (int e : a) {
          out.add(e);
        }
      } else {
        throw new IllegalArgumentException("not an element or sequence: " + p);
      }
    }
    return out.toArray();
  }

  private record SetKey(long[] bits) {
    @Override
    public boolean equals(Object o) {
      return o instanceof SetKey k && Arrays.equals(k.bits, bits);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(bits);
    }
  }

  /** A growable int array. */
  static final class IntList {
    private int[] a = new int[16];
    private int n;

    void add(int v) {
      if (n == a.length) {
        a = Arrays.copyOf(a, n * 2);
      }
      a[n++] = v;
    }

    int size() {
      return n;
    }

    int[] toArray() {
      return Arrays.copyOf(a, n);
    }
  }
}
