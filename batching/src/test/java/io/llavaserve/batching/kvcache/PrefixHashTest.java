package io.llavaserve.batching.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PrefixHashTest {

  private static long hashAll(long parent, TestSequence s) {
    return PrefixHash.of(parent, s, 0, s.length());
  }

  @Test
  void sameContentAndParentGiveTheSameHash() {
    TestSequence a = TestSequence.builder().text(1, 2).image("d1", 2).build();
    TestSequence b = TestSequence.builder().text(1, 2).image("d1", 2).build();
    assertEquals(hashAll(PrefixHash.ROOT, a), hashAll(PrefixHash.ROOT, b));
  }

  @Test
  void everyPartOfTheContentChangesTheHash() {
    TestSequence base = TestSequence.builder().text(1, 2).image("d1", 2).build();
    List<Long> hashes =
        List.of(
            hashAll(PrefixHash.ROOT, base),
            hashAll(PrefixHash.ROOT + 1, base),
            hashAll(PrefixHash.ROOT, TestSequence.builder().text(1, 3).image("d1", 2).build()),
            hashAll(PrefixHash.ROOT, TestSequence.builder().text(1, 2).image("d2", 2).build()),
            hashAll(PrefixHash.ROOT, TestSequence.builder().text(1, 2).image("d1", 3).build()),
            hashAll(
                PrefixHash.ROOT,
                TestSequence.builder().text(1, 2, TestSequence.IMAGE_TOKEN).image("d1", 1).build()),
            hashAll(PrefixHash.ROOT, TestSequence.builder().text(1, 2).image("", 2).build()));
    Set<Long> distinct = new HashSet<>(hashes);
    assertEquals(hashes.size(), distinct.size(), hashes.toString());
  }

  @Test
  void hashCoversOnlyTheGivenRange() {
    TestSequence s = TestSequence.text(7, 8, 9, 10);
    assertEquals(
        PrefixHash.of(PrefixHash.ROOT, s, 2, 2),
        PrefixHash.of(PrefixHash.ROOT, TestSequence.text(9, 10), 0, 2));
    assertNotEquals(
        PrefixHash.of(PrefixHash.ROOT, s, 0, 2), PrefixHash.of(PrefixHash.ROOT, s, 2, 2));
  }
}
