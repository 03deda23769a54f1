package io.llavaserve.batching.kvcache;

import java.util.Arrays;

/**
 * The free blocks in the order they were freed: a doubly linked list threaded through two arrays
 * indexed by block id, so append, removal from the middle (a cache hit reviving a free block) and
 * taking the least recently freed block are all O(1).
 */
final class FreeBlockQueue {

  private static final int NONE = -1;

  private final int[] prev;
  private final int[] next;
  private final boolean[] queued;
  // Sentinel node at index numBlocks: next[sentinel] is the head, prev[sentinel] the tail.
  private final int sentinel;
  private int size;

  /** A queue holding every block, in id order. */
  FreeBlockQueue(int numBlocks) {
    prev = new int[numBlocks + 1];
    next = new int[numBlocks + 1];
    queued = new boolean[numBlocks];
    sentinel = numBlocks;
    Arrays.fill(prev, NONE);
    Arrays.fill(next, NONE);
    prev[sentinel] = sentinel;
    next[sentinel] = sentinel;
    for (int id = 0; id < numBlocks; id++) {
      addLast(id);
    }
  }

  int size() {
    return size;
  }

  boolean contains(int blockId) {
    return queued[blockId];
  }

  void addLast(int blockId) {
    if (queued[blockId]) {
      throw new IllegalStateException("block " + blockId + " is already in the free queue");
    }
    int tail = prev[sentinel];
    next[tail] = blockId;
    prev[blockId] = tail;
    next[blockId] = sentinel;
    prev[sentinel] = blockId;
    queued[blockId] = true;
    size++;
  }

  void remove(int blockId) {
    if (!queued[blockId]) {
      throw new IllegalStateException("block " + blockId + " is not in the free queue");
    }
    next[prev[blockId]] = next[blockId];
    prev[next[blockId]] = prev[blockId];
    prev[blockId] = NONE;
    next[blockId] = NONE;
    queued[blockId] = false;
    size--;
  }

  /** Removes and returns the least recently freed block. */
  int popFirst() {
    if (size == 0) {
      throw new IllegalStateException("free queue is empty");
    }
    int head = next[sentinel];
    remove(head);
    return head;
  }

  /**
   * The queue from head to tail, walking the links; throws when the links are inconsistent (for
   * invariant checks).
   */
  int[] toArray() {
    int[] out = new int[size];
    int n = 0;
    for (int id = next[sentinel]; id != sentinel; id = next[id]) {
      if (n == size || id < 0 || !queued[id] || next[prev[id]] != id) {
        throw new IllegalStateException("free queue links are broken at block " + id);
      }
      out[n++] = id;
    }
    if (n != size) {
      throw new IllegalStateException("free queue holds " + n + " blocks but counts " + size);
    }
    return out;
  }
}
