package io.llavaserve.engine.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Learns a byte-level BPE vocabulary from word counts, as Hugging Face's {@code BpeTrainer} does:
 * the vocabulary starts as the 256 byte symbols in GPT-2's order (the printable bytes, then the
 * others, so that {@code !} is 0 as in GPT-2 and Qwen2); every word starts as its symbols; then the
 * most frequent adjacent pair (ties to the pair of lowest ids) is merged everywhere into one token,
 * until the vocabulary holds the size asked for. A merge whose text is already a token is kept as a
 * merge and adds no token, as in Hugging Face.
 *
 * <p>Each pair keeps its count and the words it occurs in, and a heap of (count, pair) entries is
 * updated lazily, so a merge costs the words that hold its pair, not the whole corpus.
 */
final class ByteLevelBpeTrainer {

  /**
   * A learned vocabulary.
   *
   * @param tokens every token's text in byte-level symbols, by id
   * @param merges the merges in rank order, each a (left, right) pair of tokens
   */
  record Vocabulary(List<String> tokens, List<String[]> merges) {
    Vocabulary {
      tokens = List.copyOf(tokens);
      merges = List.copyOf(merges);
    }
  }

  /** One adjacent pair's count over the corpus and the words it may occur in. */
  private static final class PairStats {
    long count;
    int[] words = new int[4];
    int size;

    void addWord(int w) {
      if (size == words.length) {
        words = Arrays.copyOf(words, size * 2);
      }
      words[size++] = w;
    }
  }

  private final List<String> tokens = new ArrayList<>();
  private final Map<String, Integer> ids = new HashMap<>();
  private final int[][] words;
  private final long[] counts;
  private final Map<Long, PairStats> pairs = new HashMap<>();
  // {count, pair key}: most frequent first, then the lowest (left, right) ids.
  private final PriorityQueue<long[]> heap =
      new PriorityQueue<>(
          (x, y) -> x[0] != y[0] ? Long.compare(y[0], x[0]) : Long.compare(x[1], y[1]));

  private ByteLevelBpeTrainer(Map<String, Long> wordCounts) {
    char[] symbols = new char[256];
    for (int b = 0; b < 256; b++) {
      symbols[b] = ByteLevelAlphabet.symbol(b);
    }
    // The printable bytes stand for themselves and the rest follow from U+0100 in byte order, so
    // the symbols' code points order them as GPT-2's bytes_to_unicode lists them.
    Arrays.sort(symbols);
    for (char c : symbols) {
      add(String.valueOf(c));
    }
    List<String> sorted = new ArrayList<>(wordCounts.keySet());
    sorted.sort(null); // ids of words do not depend on the map's iteration order
    words = new int[sorted.size()][];
    counts = new long[sorted.size()];
    for (int w = 0; w < words.length; w++) {
      String word = sorted.get(w);
      int[] seq = new int[word.length()];
      for (int i = 0; i < seq.length; i++) {
        Integer id = ids.get(String.valueOf(word.charAt(i)));
        if (id == null) {
          throw new IllegalArgumentException(
              "word '" + word + "' has a character outside the byte-level alphabet");
        }
        seq[i] = id;
      }
      words[w] = seq;
      counts[w] = wordCounts.get(word);
      for (int i = 0; i + 1 < seq.length; i++) {
        PairStats p = pairs.computeIfAbsent(key(seq[i], seq[i + 1]), k -> new PairStats());
        p.count += counts[w];
        if (p.size == 0 || p.words[p.size - 1] != w) {
          p.addWord(w);
        }
      }
    }
    pairs.forEach((k, p) -> heap.add(new long[] {p.count, k}));
  }

  /**
   * Learns merges until the vocabulary holds {@code size} tokens.
   *
   * @param wordCounts each pre-tokenized word, in byte-level symbols, and how often it occurs
   * @throws IllegalArgumentException when the words run out of pairs before {@code size} tokens
   */
  static Vocabulary train(Map<String, Long> wordCounts, int size) {
    if (size < 256) {
      throw new IllegalArgumentException("a byte-level vocabulary needs 256 tokens, asked " + size);
    }
    ByteLevelBpeTrainer t = new ByteLevelBpeTrainer(wordCounts);
    List<String[]> merges = new ArrayList<>();
    int[] seen = new int[t.words.length];
    while (t.tokens.size() < size) {
      long[] top = t.heap.poll();
      if (top == null) {
        throw new IllegalArgumentException(
            "the corpus has pairs for "
                + t.tokens.size()
                + " tokens, fewer than the "
                + size
                + " asked for");
      }
      PairStats p = t.pairs.get(top[1]);
      if (p == null || p.count != top[0]) {
        if (p != null && p.count > 0 && p.count < top[0]) {
          t.heap.add(new long[] {p.count, top[1]}); // an entry from before a decrease
        }
        continue;
      }
      int left = (int) (top[1] >>> 32);
      int right = (int) top[1];
      merges.add(new String[] {t.tokens.get(left), t.tokens.get(right)});
      t.merge(left, right, p, seen, merges.size());
    }
    return new Vocabulary(t.tokens, merges);
  }

  /** Replaces every (left, right) by the merged token in the words that hold it. */
  private void merge(int left, int right, PairStats stats, int[] seen, int stamp) {
    String text = tokens.get(left) + tokens.get(right);
    Integer existing = ids.get(text);
    int merged = existing != null ? existing : add(text);
    pairs.remove(key(left, right));
    Set<Long> grown = new HashSet<>();
    for (int i = 0; i < stats.size; i++) {
      int w = stats.words[i];
      if (seen[w] == stamp) {
        continue;
      }
      seen[w] = stamp;
      int[] old = words[w];
      int[] next = replace(old, left, right, merged);
      if (next == null) {
        continue;
      }
      long n = counts[w];
      for (int j = 0; j + 1 < old.length; j++) {
        if (old[j] != left || old[j + 1] != right) {
          PairStats s = pairs.get(key(old[j], old[j + 1]));
          if (s != null) {
            s.count -= n;
          }
        }
      }
      for (int j = 0; j + 1 < next.length; j++) {
        long k = key(next[j], next[j + 1]);
        PairStats s = pairs.computeIfAbsent(k, x -> new PairStats());
        s.count += n;
        if (s.size == 0 || s.words[s.size - 1] != w) {
          s.addWord(w);
        }
        if (next[j] == merged || next[j + 1] == merged) {
          grown.add(k);
        }
      }
      words[w] = next;
    }
    // Only pairs next to the merged token grew; every other pair kept or lost count.
    for (long k : grown) {
      heap.add(new long[] {pairs.get(k).count, k});
    }
  }

  /** The word with (left, right) merged left to right, or null when it has no such pair. */
  private static int[] replace(int[] seq, int left, int right, int merged) {
    int[] out = null;
    int n = 0;
    for (int i = 0; i < seq.length; i++) {
      if (i + 1 < seq.length && seq[i] == left && seq[i + 1] == right) {
        if (out == null) {
          out = new int[seq.length - 1];
          System.arraycopy(seq, 0, out, 0, i);
          n = i;
        }
        out[n++] = merged;
        i++;
      } else if (out != null) {
        out[n++] = seq[i];
      }
    }
    return out == null ? null : Arrays.copyOf(out, n);
  }

  private int add(String token) {
    ids.put(token, tokens.size());
    tokens.add(token);
    return tokens.size() - 1;
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }
}
