package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.graph.OpProfile;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.StepStats;

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

  /**
   * A decode profile prints its busiest op types, then the rest summed in one row; the shares are
   * of the ops' summed time.
   */
  @Test
  void anOpProfileShowsTheBusiestOpTypesThenTheRest() {
    DeviceStepStats.Builder device = DeviceStepStats.newBuilder().setDevice("cpu");
    long at = 1000;
    int types = BenchCommand.PROFILE_ROWS + 2;
    for (int i = 0; i < types; i++) {
      String op = "Op" + (char) ('A' + i);
      long micros = 10L * (types - i); // OpA the longest
      device.addNodeStats(
          NodeExecStats.newBuilder()
              .setNodeName("n" + i)
              .setTimelineLabel("n" + i + " = " + op + "(x)")
              .setAllStartMicros(at)
              .setAllEndRelMicros(micros));
      at += micros;
    }
    OpProfile p = new OpProfile();
    p.add(StepStats.newBuilder().addDevStats(device).build());
    String table = BenchCommand.format(p, "decode", 32);
    String[] lines = table.split("\\R");
    assertTrue(
        lines[0].startsWith("decode step ops, 32 sequences, 1 steps traced: 14 ops a step"),
        lines[0]);
    assertTrue(lines[2].trim().startsWith("OpA"), lines[2]);
    assertTrue(lines[2].contains("140.0"), lines[2]);
    assertEquals(2 + BenchCommand.PROFILE_ROWS + 1, lines.length, table);
    assertTrue(lines[lines.length - 1].trim().startsWith("(2 other op types)"), table);
    assertTrue(lines[lines.length - 1].contains("30.0"), table); // OpM 20 + OpN 10
    assertTrue(
        BenchCommand.format(p, "prefill", 1).startsWith("prefill step ops, 1 sequences"),
        "the table names the kind of step it traced");
  }
}
