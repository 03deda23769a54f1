package io.llavaserve.engine.graph;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.StepStats;

/**
 * Where the engine's steps spend their time, op type by op type: TensorFlow's step statistics (a
 * full trace) of every step run while this profile is set on a {@link TfModelRunner}, summed per op
 * type. Tracing times and records every op, so a traced step runs slower than an untraced one: read
 * the counts and the shares, not the speed.
 */
public final class OpProfile {

  /**
   * One op type's part of the traced steps.
   *
   * @param op the op type, as the graph names it (e.g. {@code LlavaQ4MatMul}, {@code Reshape})
   * @param callsPerStep how many of its nodes ran per step
   * @param microsPerStep their summed run time per step, in microseconds
   */
  public record Row(String op, double callsPerStep, double microsPerStep) {}

  private final Map<String, long[]> byType = new HashMap<>(); // op type -> {micros, calls}
  private int steps;
  private long wallMicros;
  private long opMicros;

  /** Adds one traced step: its nodes' run times by op type, and the span from first to last. */
  public synchronized void add(StepStats stats) {
    long first = Long.MAX_VALUE;
    long last = Long.MIN_VALUE;
    for (DeviceStepStats device : stats.getDevStatsList()) {
      for (NodeExecStats node : device.getNodeStatsList()) {
        long start = node.getAllStartMicros();
        long micros = node.getAllEndRelMicros();
        first = Math.min(first, start);
        last = Math.max(last, start + micros);
        long[] sums = byType.computeIfAbsent(opType(node), k -> new long[2]);
        sums[0] += micros;
        sums[1]++;
        opMicros += micros;
      }
    }
    steps++;
    if (last >= first) {
      wallMicros += last - first;
    }
  }

  /**
   * A node's op type from its timeline label, which TensorFlow writes as {@code "name =
   * Type(inputs)"}; the node's name where the label has no such form.
   */
  static String opType(NodeExecStats node) {
    String label = node.getTimelineLabel();
    int eq = label.indexOf(" = ");
    if (eq < 0) {
      return node.getNodeName();
    }
    int open = label.indexOf('(', eq + 3);
    return label.substring(eq + 3, open < 0 ? label.length() : open).trim();
  }

  /** Steps traced so far. */
  public synchronized int steps() {
    return steps;
  }

  /** Mean span per step from the first op's start to the last op's end, in microseconds. */
  public synchronized double wallMicrosPerStep() {
    return steps == 0 ? 0 : (double) wallMicros / steps;
  }

  /**
   * Mean summed run time of a step's ops, in microseconds: ops that overlap on several threads
   * count each, and the gaps between ops not at all.
   */
  public synchronized double opMicrosPerStep() {
    return steps == 0 ? 0 : (double) opMicros / steps;
  }

  /** Mean ops run per step. */
  public synchronized double opsPerStep() {
    long calls = 0;
    for (long[] sums : byType.values()) {
      calls += sums[1];
    }
    return steps == 0 ? 0 : (double) calls / steps;
  }

  /** Every op type seen, the most time first. */
  public synchronized List<Row> rows() {
    List<Row> rows = new ArrayList<>(byType.size());
    if (steps == 0) {
      return rows;
    }
    byType.forEach(
        (op, sums) -> rows.add(new Row(op, (double) sums[1] / steps, (double) sums[0] / steps)));
    rows.sort(Comparator.comparingDouble(Row::microsPerStep).reversed().thenComparing(Row::op));
    return rows;
  }
}
