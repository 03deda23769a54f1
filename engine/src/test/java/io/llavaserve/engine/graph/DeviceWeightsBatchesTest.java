package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** How weights are grouped into the session calls that upload them. */
class DeviceWeightsBatchesTest {

  private static final long MIB = 1L << 20;

  @Test
  void weightsGoInOrderInRunsOfAtMostTheBatchBytesALargerOneAlone() {
    long max = DeviceWeights.BATCH_BYTES;
    List<Long> sizes = List.of(max / 2, max / 2, 1L, 3 * max, max / 4, max / 4, max, 7 * MIB);
    List<List<Long>> batches = DeviceWeights.batches(sizes, Long::longValue);
    assertEquals(
        List.of(
            List.of(max / 2, max / 2),
            List.of(1L),
            List.of(3 * max),
            List.of(max / 4, max / 4),
            List.of(max),
            List.of(7 * MIB)),
        batches);
  }

  @Test
  void smallWeightsShareOneCallAndNoneMakesNoCall() {
    assertEquals(
        List.of(List.of(MIB, 2 * MIB, 3 * MIB)),
        DeviceWeights.batches(List.of(MIB, 2 * MIB, 3 * MIB), Long::longValue));
    assertEquals(List.of(), DeviceWeights.batches(List.<Long>of(), Long::longValue));
  }
}
