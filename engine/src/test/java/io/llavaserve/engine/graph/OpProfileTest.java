package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.NodeExecStats;

class OpProfileTest {

  @TempDir Path dir;

  /**
   * The steps run while a profile is set are traced into it, op type by op type, and change nothing
   * in what they compute; the steps after it is unset are not traced.
   */
  @Test
  void tracesTheStepsRunWhileSet() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      int layers = ckpt.config().text().numHiddenLayers();
      int[] table = {0, 1, 2, 3};
      ScheduledBatch prefill =
          new ScheduledBatch(List.of(SequenceChunk.text(new int[] {5, 6, 7}, 0, table)), true);
      ScheduledBatch decode =
          ScheduledBatch.of(List.of(SequenceChunk.text(new int[] {8}, 3, table)));
      float[] plain = runner.execute(prefill).logits();

      OpProfile profile = new OpProfile();
      runner.profile(profile);
      float[] traced = runner.execute(prefill).logits();
      runner.execute(decode);
      runner.profile(null);
      runner.execute(decode);

      assertArrayEquals(plain, traced);
      assertEquals(2, profile.steps());
      List<OpProfile.Row> rows = profile.rows();
      double matmuls =
          rows.stream()
              .filter(r -> r.op().contains("MatMul"))
              .mapToDouble(OpProfile.Row::callsPerStep)
              .sum();
      assertTrue(matmuls >= 4 * layers, "matmul nodes a step: " + matmuls + " in " + rows);
      for (int i = 1; i < rows.size(); i++) {
        assertTrue(rows.get(i - 1).microsPerStep() >= rows.get(i).microsPerStep(), rows.toString());
      }
      double calls = rows.stream().mapToDouble(OpProfile.Row::callsPerStep).sum();
      assertEquals(calls, profile.opsPerStep(), 1e-9);
      double micros = rows.stream().mapToDouble(OpProfile.Row::microsPerStep).sum();
      assertEquals(micros, profile.opMicrosPerStep(), 1e-6);
      assertTrue(profile.wallMicrosPerStep() > 0, "wall " + profile.wallMicrosPerStep());
    }
  }

  /** The op type is read from TensorFlow's timeline label, "name = Type(inputs)". */
  @Test
  void readsTheOpTypeFromTheLabel() {
    assertEquals(
        "LlavaQ4MatMul",
        OpProfile.opType(
            NodeExecStats.newBuilder()
                .setNodeName("layer_0/q4")
                .setTimelineLabel("layer_0/q4 = LlavaQ4MatMul(x, w)")
                .build()));
    assertEquals(
        "NoOp",
        OpProfile.opType(
            NodeExecStats.newBuilder()
                .setNodeName("_SOURCE")
                .setTimelineLabel("_SOURCE = NoOp()")
                .build()));
    assertEquals(
        "unlabelled",
        OpProfile.opType(NodeExecStats.newBuilder().setNodeName("unlabelled").build()));
  }

  /** An empty profile has no rows and zero figures, not NaN. */
  @Test
  void anEmptyProfileIsZero() {
    OpProfile p = new OpProfile();
    assertEquals(0, p.steps());
    assertTrue(p.rows().isEmpty());
    assertEquals(0.0, p.opsPerStep());
    assertEquals(0.0, p.wallMicrosPerStep());
    assertEquals(0.0, p.opMicrosPerStep());
  }
}
