package io.llavaserve.batching.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class FreeBlockQueueTest {

  @Test
  void startsWithEveryBlockInIdOrder() {
    FreeBlockQueue q = new FreeBlockQueue(4);
    assertEquals(4, q.size());
    assertArrayEquals(new int[] {0, 1, 2, 3}, q.toArray());
  }

  @Test
  void popsLeastRecentlyAddedAndRemovesFromTheMiddle() {
    FreeBlockQueue q = new FreeBlockQueue(4);
    assertEquals(0, q.popFirst());
    assertEquals(1, q.popFirst());
    q.addLast(1);
    q.addLast(0);
    q.remove(3);
    assertFalse(q.contains(3));
    assertArrayEquals(new int[] {2, 1, 0}, q.toArray());
    assertEquals(2, q.popFirst());
    assertEquals(1, q.popFirst());
    assertEquals(0, q.popFirst());
    assertEquals(0, q.size());
    assertThrows(IllegalStateException.class, q::popFirst);
  }

  @Test
  void rejectsAddingTwiceOrRemovingAbsent() {
    FreeBlockQueue q = new FreeBlockQueue(2);
    assertThrows(IllegalStateException.class, () -> q.addLast(1));
    q.remove(1);
    assertThrows(IllegalStateException.class, () -> q.remove(1));
  }
}
