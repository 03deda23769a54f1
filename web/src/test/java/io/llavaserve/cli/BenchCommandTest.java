package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchCommandTest {

  /** The 1-row bandwidth probe reads at least 256 MB of float32 weights, never fewer columns. */
  @Test
  void theBandwidthProbeStreamsBeyondTheCaches() {
    for (int in : new int[] {64, 896, 1024, 4096, 8192}) {
      int out = BenchCommand.outBeyondCaches(in);
      assertTrue(4L * in * out >= 256L << 20 || out == 8 * in, in + " -> " + out);
      assertTrue(out >= 8 * in, in + " -> " + out);
    }
    assertEquals(65536, BenchCommand.outBeyondCaches(1024));
    assertEquals(65536, BenchCommand.outBeyondCaches(8192));
  }
}
