package io.llavaserve.engine.sampling.constraint;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The bytes each token id adds to the decoded text, and a trie of them, built once per tokenizer
 * ({@link Tokenizer#tokenBytes}: SentencePiece's "▁" as a space, a {@code <0xNN>} byte token as its
 * one byte, so a character split over byte tokens is matched byte by byte). Tokens with no text of
 * their own (special and added tokens) are left out and never allowed by a grammar.
 *
 * <p>The trie lets a mask be computed by walking it together with the grammar's automaton: a prefix
 * shared by many tokens is matched once, and a prefix the grammar refuses cuts off every token
 * below it. Immutable: shared by every engine of the tokenizer.
 */
public final class TokenTrie {

  private final int vocabSize;
  private final byte[][] bytes; // [id] -> text bytes, null when the id has none
  // Node n's children are edges [childStart[n], childStart[n + 1]); edge e reads edgeByte[e].
  private final int[] childStart;
  private final byte[] edgeByte;
  private final int[] edgeTarget;
  // Node n ends the tokens tokenIds[tokenStart[n] .. tokenStart[n + 1]).
  private final int[] tokenStart;
  private final int[] tokenIds;

  private TokenTrie(int vocabSize, byte[][] bytes) {
    this.vocabSize = vocabSize;
    this.bytes = bytes;
    // Sort the ids by their bytes: then every node's tokens and children are contiguous runs.
    Integer[] order =
        java.util.stream.IntStream.range(0, bytes.length)
            .filter(i -> bytes[i] != null && bytes[i].length > 0)
            .boxed()
            .toArray(Integer[]::new);
    Arrays.sort(order, (x, y) -> Arrays.compareUnsigned(bytes[x], bytes[y]));
    Builder b = new Builder();
    for (int id : order) {
      b.insert(bytes[id], id);
    }
    int numNodes = b.children.size();
    childStart = new int[numNodes + 1];
    tokenStart = new int[numNodes + 1];
    int edges = 0;
    int tokens = 0;
    for (int n = 0; n < numNodes; n++) {
      edges += b.children.get(n).size() / 2;
      tokens += b.tokens.get(n).size();
    }
    edgeByte = new byte[edges];
    edgeTarget = new int[edges];
    tokenIds = new int[tokens];
    int e = 0;
    int t = 0;
    for (int n = 0; n < numNodes; n++) {
      childStart[n] = e;
      tokenStart[n] = t;
      List<Integer> c = b.children.get(n);
      for (int k = 0; k < c.size(); k += 2) {
        edgeByte[e] = (byte) (int) c.get(k);
        edgeTarget[e++] = c.get(k + 1);
      }
      for (int id : b.tokens.get(n)) {
        tokenIds[t++] = id;
      }
    }
    childStart[numNodes] = e;
    tokenStart[numNodes] = t;
  }

  /** The trie of every token of {@code tokenizer} that has text. */
  public static TokenTrie of(Tokenizer tokenizer) {
    byte[][] bytes = new byte[tokenizer.vocabSize()][];
    for (int id = 0; id < bytes.length; id++) {
      bytes[id] = tokenizer.tokenBytes(id);
    }
    return new TokenTrie(bytes.length, bytes);
  }

  /** A trie over the given token texts, for tests: id i has {@code bytes[i]} (null: no text). */
  static TokenTrie of(byte[][] bytes) {
    return new TokenTrie(bytes.length, bytes.clone());
  }

  public int vocabSize() {
    return vocabSize;
  }

  /** The text bytes of {@code id}, or null when it has none (or is outside the vocabulary). */
  public byte[] bytes(int id) {
    return id >= 0 && id < bytes.length ? bytes[id] : null;
  }

  int numNodes() {
    return childStart.length - 1;
  }

  int firstEdge(int node) {
    return childStart[node];
  }

  int endEdge(int node) {
    return childStart[node + 1];
  }

  int edgeByte(int edge) {
    return edgeByte[edge] & 0xFF;
  }

  int edgeTarget(int edge) {
    return edgeTarget[edge];
  }

  int firstToken(int node) {
    return tokenStart[node];
  }

  int endToken(int node) {
    return tokenStart[node + 1];
  }

  int tokenAt(int index) {
    return tokenIds[index];
  }

  /** Nodes as lists while inserting sorted keys: children as (byte, node) pairs. */
  private static final class Builder {
    final List<List<Integer>> children = new ArrayList<>();
    final List<List<Integer>> tokens = new ArrayList<>();

    Builder() {
      node();
    }

    private int node() {
      children.add(new ArrayList<>(2));
      tokens.add(new ArrayList<>(1));
      return children.size() - 1;
    }

    void insert(byte[] key, int id) {
      int n = 0;
      for (byte value : key) {
        int v = value & 0xFF;
        List<Integer> c = children.get(n);
        // Keys arrive sorted, so a child for v can only be the last one added.
        if (!c.isEmpty() && c.get(c.size() - 2) == v) {
          n = c.get(c.size() - 1);
        } else {
          int child = node();
          c.add(v);
          c.add(child);
          n = child;
        }
      }
      tokens.get(n).add(id);
    }
  }
}
