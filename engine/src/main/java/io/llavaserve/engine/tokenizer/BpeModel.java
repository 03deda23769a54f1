package io.llavaserve.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece-style BPE over whole text segments, as Hugging Face's {@code models::bpe::BPE} runs
 * it: every code point starts as its own symbol (or as its UTF-8 byte tokens when byte fallback is
 * on and the code point is not a piece), then the adjacent pair with the lowest merge rank is
 * merged, leftmost first on ties, until no pair has a merge.
 *
 * <p>The merge loop keeps the symbols in a doubly linked list and the candidate merges in a
 * priority queue, so a segment of n code points costs O(n log n).
 */
final class BpeModel {

  private final Map<String, Integer> vocab;
  private final String[] pieces; // id -> piece, null where the vocabulary has a gap
  // (left id << 32 | right id) -> (rank << 32 | merged id)
  private final Map<Long, Long> merges;
  private final int unkId; // -1 when the model has no unknown token
  private final boolean fuseUnk;
  private final boolean byteFallback;
  private final int[] byteIds; // byte value -> id of <0xXX>, -1 where missing

  BpeModel(
      Map<String, Integer> vocab,
      List<String[]> mergePairs,
      String unkToken,
      boolean fuseUnk,
      boolean byteFallback) {
    this.vocab = Map.copyOf(vocab);
    int maxId = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
    this.pieces = new String[maxId + 1];
    vocab.forEach((piece, id) -> pieces[id] = piece);
    this.merges = new HashMap<>(mergePairs.size() * 2);
    for (int rank = 0; rank < mergePairs.size(); rank++) {
      String[] pair = mergePairs.get(rank);
      Integer left = vocab.get(pair[0]);
      Integer right = vocab.get(pair[1]);
      Integer merged = vocab.get(pair[0] + pair[1]);
      if (left == null || right == null || merged == null) {
        throw new IllegalArgumentException(
            "merge " + rank + " (" + pair[0] + " " + pair[1] + ") uses a piece not in the vocab");
      }
      // A later duplicate overwrites an earlier one, as in HF's HashMap collect.
      merges.put(key(left, right), ((long) rank << 32) | merged);
    }
    Integer unk = unkToken == null ? null : vocab.get(unkToken);
    this.unkId = unk == null ? -1 : unk;
    this.fuseUnk = fuseUnk;
    this.byteFallback = byteFallback;
    this.byteIds = new int[256];
    for (int b = 0; b < 256; b++) {
      byteIds[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
    }
  }

  /** Number of ids the model itself covers (added tokens may extend past it). */
  int size() {
    return pieces.length;
  }

  Integer id(String piece) {
    return vocab.get(piece);
  }

  String piece(int id) {
    return id >= 0 && id < pieces.length ? pieces[id] : null;
  }

  /** Appends the ids of one normalized segment to {@code out}. */
  void tokenize(String segment, IntList out) {
    if (segment.isEmpty()) {
      return;
    }
    Word word = initialSymbols(segment);
    mergeAll(word);
    for (int i = 0; i != -1; i = word.next[i]) {
      out.add(word.ids[i]);
    }
  }

  private Word initialSymbols(String segment) {
    Word word = new Word(segment.length() * 4);
    int pendingUnk = 0; // fused unknown code points waiting to be emitted
    for (int i = 0; i < segment.length(); ) {
      int cp = segment.codePointAt(i);
      int end = i + Character.charCount(cp);
      Integer id = vocab.get(segment.substring(i, end));
      i = end;
      if (id != null) {
        if (pendingUnk > 0) {
          word.add(unkId);
          pendingUnk = 0;
        }
        word.add(id);
        continue;
      }
      if (byteFallback && addBytes(word, cp)) {
        continue;
      }
      if (unkId < 0) {
        throw new IllegalArgumentException(
            "code point U+" + Integer.toHexString(cp) + " is not in the vocab and there is no unk");
      }
      if (pendingUnk > 0 && !fuseUnk) {
        word.add(unkId);
      }
      pendingUnk = 1;
    }
    if (pendingUnk > 0) {
      word.add(unkId);
    }
    return word;
  }

  private boolean addBytes(Word word, int cp) {
    byte[] bytes = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
    for (byte b : bytes) {
      if (byteIds[b & 0xFF] < 0) {
        return false;
      }
    }
    for (byte b : bytes) {
      word.add(byteIds[b & 0xFF]);
    }
    return true;
  }

  private void mergeAll(Word w) {
    // Candidate: rank in the high bits, left position in the low bits, so the natural order of
    // the longs is "lowest rank, then leftmost", which is the order HF's BinaryHeap pops.
    PriorityQueue<long[]> queue =
        new PriorityQueue<>(
            Math.max(1, w.size),
            (a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    for (int i = 0; i + 1 < w.size; i++) {
      offer(queue, w, i, i + 1);
    }
    while (!queue.isEmpty()) {
      long[] top = queue.poll();
      int pos = (int) top[1];
      int mergedId = (int) top[2];
      if (w.dead[pos] || w.next[pos] == -1) {
        continue;
      }
      int right = w.next[pos];
      Long merge = merges.get(key(w.ids[pos], w.ids[right]));
      // Stale entry: the symbols at pos changed since this candidate was queued.
      if (merge == null || (int) (long) merge != mergedId) {
        continue;
      }
      w.ids[pos] = mergedId;
      w.dead[right] = true;
      w.next[pos] = w.next[right];
      if (w.next[pos] != -1) {
        w.prev[w.next[pos]] = pos;
      }
      if (w.prev[pos] != -1) {
        offer(queue, w, w.prev[pos], pos);
      }
      if (w.next[pos] != -1) {
        offer(queue, w, pos, w.next[pos]);
      }
    }
  }

  private void offer(PriorityQueue<long[]> queue, Word w, int left, int right) {
    Long merge = merges.get(key(w.ids[left], w.ids[right]));
    if (merge != null) {
      queue.add(new long[] {merge >>> 32, left, (int) (long) merge});
    }
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  /** Symbols of one segment as a linked list over arrays; position 0 is always the head. */
  private static final class Word {
    int[] ids;
    int[] prev;
    int[] next;
    boolean[] dead;
    int size;

    Word(int capacity) {
      ids = new int[Math.max(capacity, 1)];
      prev = new int[ids.length];
      next = new int[ids.length];
      dead = new boolean[ids.length];
    }

    void add(int id) {
      if (size == ids.length) {
        int n = size * 2;
        ids = Arrays.copyOf(ids, n);
        prev = Arrays.copyOf(prev, n);
        next = Arrays.copyOf(next, n);
        dead = Arrays.copyOf(dead, n);
      }
      ids[size] = id;
      prev[size] = size - 1;
      next[size] = -1;
      if (size > 0) {
        next[size - 1] = size;
      }
      size++;
    }
  }
}
