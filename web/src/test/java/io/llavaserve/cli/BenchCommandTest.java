package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.OpProfile;
import io.llavaserve.engine.quantization.Quantization;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.StepStats;

class BenchCommandTest {

  @TempDir Path dir;

  /** {@code --formats} names each format once, in the order given; {@code all} is every one. */
  @Test
  void formatsParseInOrderOnce() {
    assertEquals(
        List.of("int4", "float32"),
        BenchCommand.Format.parse(List.of("int4", "FLOAT32", "int4")).stream()
            .map(BenchCommand.Format::name)
            .toList());
    assertEquals(
        List.of("float32", "float16", "bfloat16", "int8", "int4"),
        BenchCommand.Format.parse(List.of("all")).stream().map(BenchCommand.Format::name).toList());
    BenchCommand.Format int8 = BenchCommand.Format.parse(List.of("int8")).get(0);
    assertEquals(MatmulPrecision.AUTO, int8.precision());
    assertEquals(Quantization.INT8, int8.quantization());
    assertEquals(
        "none",
        BenchCommand.Format.parse(List.of("float16")).get(0).flags().get("model.quantization"));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> BenchCommand.Format.parse(List.of("fp8")));
    assertTrue(e.getMessage().contains("'fp8'"), e.getMessage());
  }

  /**
   * One run measures every format against the same probes, prints each format's table, then the
   * formats side by side: one row each, with as many prefill and decode figures as batch sizes.
   */
  @Test
  void everyFormatIsMeasuredInOneRunAndPutSideBySide() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    Cli.Run run =
        Cli.run(
            "bench",
            "--model",
            dir.toString(),
            "--formats",
            "float32,int8,int4",
            "--batch-sizes",
            "1,2",
            "--prompt-tokens",
            "8",
            "--decode-steps",
            "2");
    assertEquals(0, run.exit(), run.err() + run.out());
    String out = run.out();
    for (String f : List.of("float32", "int8", "int4")) {
      assertTrue(out.contains("== " + f + " =="), out);
    }
    assertEquals(1, out.split("TF matmul peak", -1).length - 1, "the probes run once: " + out);
    String table = out.substring(out.indexOf("formats side by side"));
    Matcher row =
        Pattern.compile(
                "(?m)^(float32|int8|int4)\\s+\\d+\\s+(\\d+) / (\\d+)\\s+([0-9.]+) / ([0-9.]+)\\s+[0-9.]+ \\(\\d+%\\)")
            .matcher(table);
    int rows = 0;
    while (row.find()) {
      for (int g = 2; g <= 5; g++) {
        assertTrue(Double.parseDouble(row.group(g)) > 0, table);
      }
      rows++;
    }
    assertEquals(3, rows, table);
    assertTrue(table.contains("int8 language-model weights"), table);
  }

  /** The formats set the precision and quantization themselves. */
  @Test
  void formatsRefuseTheFlagsTheySet() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    Cli.Run run =
        Cli.run("bench", "--model", dir.toString(), "--formats", "int8", "--quantization", "int4");
    assertTrue(run.exit() != 0, run.out());
    assertTrue(
        run.err().contains("--formats sets --matmul-precision and --quantization"), run.err());
  }

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
