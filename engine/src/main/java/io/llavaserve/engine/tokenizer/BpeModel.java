package io.llavaserve.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece-style BPE over whole text segments, as Hugging Face's {@code models::bpe::BPE} runs
 * it: every code point starts as its own symbol (or as its UTF-8 byte tokens when byte fallback is
 * on and the code point is not a piece), then the adjacent pair with the lowest merge rank is
 * merged, leftmost first on ties, until no pair has a merge.
 *
 * <p>The merge loop keeps the symbols in a doubly linked list and the candidate merges in a
 * priority queue, so a segment of n code points costs O(n log n). Merges are found in an
 * open-addressing table of id pairs and candidates queued as plain longs: no boxing on the way.
 */
final class BpeModel {

  private final Map<String, Integer> vocab;
  private final String[] pieces; // id -> piece, null where the vocabulary has a gap
  // (left id << 32 | right id) -> (rank << 32 | merged id)
  private final PairTable merges;
  private final int[] mergedByRank; // rank -> the id its pair merges into
  private final int unkId; // -1 when the model has no unknown token
  private final boolean fuseUnk;
  private final boolean byteFallback;
  private final int[] byteIds; // byte value -> id of <0xXX>, -1 where missing
  private final int[] charIds; // BMP code point -> id of its one-character piece, -1 where none

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
    this.charIds = new int[Character.MAX_VALUE + 1];
    Arrays.fill(charIds, -1);
    vocab.forEach(
        (piece, id) -> {
          if (piece.length() == 1 && !Character.isSurrogate(piece.charAt(0))) {
            charIds[piece.charAt(0)] = id;
          }
        });
    this.merges = new PairTable(mergePairs.size());
    this.mergedByRank = new int[mergePairs.size()];
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
      mergedByRank[rank] = merged;
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
      int id =
          cp <= Character.MAX_VALUE && !Character.isSurrogate((char) cp)
              ? charIds[cp]
              : vocab.getOrDefault(segment.substring(i, end), -1);
      i = end;
      if (id >= 0) {
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
    LongHeap queue = new LongHeap(Math.max(1, w.size));
    for (int i = 0; i + 1 < w.size; i++) {
      offer(queue, w, i, i + 1);
    }
    while (!queue.isEmpty()) {
      long top = queue.poll();
      int rank = (int) (top >>> 32);
      int pos = (int) top;
      if (w.dead[pos] || w.next[pos] == -1) {
        continue;
      }
      int right = w.next[pos];
      long merge = merges.get(key(w.ids[pos], w.ids[right]));
      // Stale entry: the symbols at pos changed since this candidate was queued, and their pair
      // merges into another id or none (HF's test: the queued merge's result, not its rank).
      if (merge < 0 || (int) merge != mergedByRank[rank]) {
        continue;
      }
      w.ids[pos] = (int) merge;
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

  private void offer(LongHeap queue, Word w, int left, int right) {
    long merge = merges.get(key(w.ids[left], w.ids[right]));
    if (merge >= 0) {
      queue.add((merge >>> 32) << 32 | left);
    }
  }

  private static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  /**
   * Pairs of ids to their merge, (rank << 32 | merged id), by open addressing with linear probing.
   * Keys and values are never negative (ids and ranks are), so -1 marks an empty slot and a miss.
   */
  private static final class PairTable {
    // key at 2 i, its value at 2 i + 1: one probe reads one cache line.
    private final long[] slots;
    private final int mask;

    PairTable(int entries) {
      int capacity = Integer.highestOneBit(Math.max(8, entries * 2 - 1)) << 1;
      slots = new long[2 * capacity];
      mask = capacity - 1;
      Arrays.fill(slots, -1L);
    }

    void put(long key, long value) {
      int i = slot(key);
      while (slots[2 * i] != -1L && slots[2 * i] != key) {
        i = (i + 1) & mask;
      }
      slots[2 * i] = key;
      slots[2 * i + 1] = value;
    }

    long get(long key) {
      for (int i = slot(key); ; i = (i + 1) & mask) {
        long k = slots[2 * i];
        if (k == key) {
          return slots[2 * i + 1];
        }
        if (k == -1L) {
          return -1L;
        }
      }
    }

    private int slot(long key) {
      // MurmurHash3's 64-bit finaliser: a left id's bits reach every bit of the slot.
      long h = key;
      h ^= h >>> 33;
      h *= 0xff51afd7ed558ccdL;
      h ^= h >>> 33;
      h *= 0xc4ceb9fe1a85ec53L;
      h ^= h >>> 33;
      return (int) h & mask;
    }
  }

  /** A binary min-heap of longs. */
  private static final class LongHeap {
    private long[] heap;
    private int size;

    LongHeap(int capacity) {
      heap = new long[capacity];
    }

    boolean isEmpty() {
      return size == 0;
    }

    void add(long x) {
      if (size == heap.length) {
        heap = Arrays.copyOf(heap, size * 2);
      }
      int i = size++;
      while (i > 0) {
        int parent = (i - 1) >>> 1;
        if (heap[parent] <= x) {
          break;
        }
        heap[i] = heap[parent];
        i = parent;
      }
      heap[i] = x;
    }

    long poll() {
      long top = heap[0];
      long last = heap[--size];
      int i = 0;
      int half = size >>> 1;
      while (i < half) {
        int child = 2 * i + 1;
        if (child + 1 < size && heap[child + 1] < heap[child]) {
          child++;
        }
        if (last <= heap[child]) {
          break;
        }
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
      return top;
    }
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
