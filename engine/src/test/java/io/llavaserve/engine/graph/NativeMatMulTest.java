package io.llavaserve.engine.graph;

import static io.llavaserve.engine.graph.TfModelRunnerTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;

/** The native bfloat16 matmul against plain arithmetic, on each of its paths, and in the model. */
class NativeMatMulTest {

  @TempDir Path dir;

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  /** Round to the nearest bfloat16, ties to even, as the kernel does with x. */
  static float bf16(float f) {
    int u = Float.floatToRawIntBits(f);
    u += 0x7fff + ((u >>> 16) & 1);
    return Float.intBitsToFloat(u & 0xffff0000);
  }

  /** W [k][n] packed as [ceil(n / 64) * 4, ceil(k / 32) * 16, 16, 2], zero padded. */
  static float[] pack(float[][] w, int k, int n) {
    int nb = (n + 63) / 64 * 4;
    int kp = (k + 31) / 32 * 16;
    float[] p = new float[nb * kp * 32];
    for (int row = 0; row < k; row++) {
      for (int col = 0; col < n; col++) {
        p[((col / 16) * kp + row / 2) * 32 + (col % 16) * 2 + row % 2] = w[row][col];
      }
    }
    return p;
  }

  /** Runs the op once: y [m, n] for x [m, k]. */
  static float[] run(float[] x, int m, int k, float[][] w, int n, int threads, int path) {
    int nb = (n + 63) / 64 * 4;
    int kp = (w.length + 31) / 32 * 16;
    try (Graph g = new Graph();
        TBfloat16 wt =
            TBfloat16.tensorOf(Shape.of(nb, kp, 16, 2), DataBuffers.of(pack(w, w.length, n)));
        TFloat32 xt = TFloat32.tensorOf(Shape.of(m, k), DataBuffers.of(x))) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> xp = tf.placeholder(TFloat32.class);
      Output<TFloat32> y =
          tf.scope()
              .opBuilder(NativeKernels.BF16_MATMUL, "mm")
              .addInput(xp.asOutput())
              .addInput(tf.constantOf(wt).asOutput())
              .setAttr("n", (long) n)
              .setAttr("num_threads", (long) threads)
              .setAttr("path", (long) path)
              .build()
              .output(0);
      try (Session s = new Session(g);
          Result r = s.runner().feed(xp, xt).fetch(y).run()) {
        TFloat32 out = (TFloat32) r.get(0);
        assertEquals(Shape.of(m, n), out.shape());
        float[] data = new float[m * n];
        out.asRawTensor().data().asFloats().read(data);
        return data;
      }
    }
  }

  @ParameterizedTest(name = "path {0}")
  @ValueSource(ints = {0, 1, 2, -1})
  void matchesPlainArithmetic(int path) {
    int[][] shapes = { // m, k, n: on and off the multiples of 16, 32 and 64, and row blocks
      {1, 64, 64}, {5, 70, 100}, {16, 32, 16}, {17, 96, 130}, {33, 300, 64}, {300, 40, 200}
    };
    SplittableRandom rnd = new SplittableRandom(path + 10);
    for (int[] shape : shapes) {
      int m = shape[0];
      int k = shape[1];
      int n = shape[2];
      float[][] w = new float[k][n];
      for (float[] row : w) {
        for (int j = 0; j < n; j++) {
          row[j] = bf16((float) (rnd.nextDouble() * 2 - 1));
        }
      }
      float[] x = new float[m * k];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextDouble() * 2 - 1);
      }
      float[] expected = new float[m * n];
      for (int r = 0; r < m; r++) {
        for (int c = 0; c < n; c++) {
          double acc = 0;
          for (int i = 0; i < k; i++) {
            acc += (double) bf16(x[r * k + i]) * w[i][c];
          }
          expected[r * n + c] = (float) acc;
        }
      }
      for (int threads : new int[] {1, 2}) {
        assertClose(
            expected,
            run(x, m, k, w, n, threads, path),
            2e-3,
            "path " + path + ", threads " + threads + ", shape " + m + "x" + k + "x" + n);
      }
    }
  }

  @Test
  void rejectsAWeightOfTheWrongShape() {
    float[][] w = new float[64][64];
    TFInvalidArgumentException e =
        assertThrows(
            TFInvalidArgumentException.class, () -> run(new float[2 * 96], 2, 96, w, 64, 1, -1));
    assertTrue(e.getMessage().contains("does not fit w"), e.getMessage());
  }

  /**
   * The tiny model in bfloat16: the native kernels stay as close to the float32 model as the
   * graph's bfloat16 matmuls do (closer, in fact: they keep each product's float32 sum instead of
   * rounding it to bfloat16).
   */
  @Test
  void modelInBfloat16StaysCloseToFloat32() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    KvCacheConfig cache = new KvCacheConfig(4, 256);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner exact =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.FLOAT32, Kernels.GRAPH);
        TfModelRunner nat =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.BFLOAT16, Kernels.NATIVE);
        TfModelRunner graph =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.BFLOAT16, Kernels.GRAPH)) {
      assertTrue(nat.nativeMatMul());
      SplittableRandom rnd = new SplittableRandom(3);
      int vocab = ckpt.config().text().vocabSize() - 100;
      List<SequenceChunk> prefill = new ArrayList<>();
      List<int[]> tables = new ArrayList<>();
      for (int s = 0; s < 6; s++) {
        int[] ids = new int[3 + 7 * s];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = 3 + rnd.nextInt(vocab);
        }
        int[] table = TfModelRunnerTest.blocks(s * 40, 160, 4);
        tables.add(table);
        prefill.add(SequenceChunk.text(ids, 0, table));
      }
      StepOutput a = nat.execute(new ScheduledBatch(prefill, true));
      StepOutput b = graph.execute(new ScheduledBatch(prefill, true));
      StepOutput f = exact.execute(new ScheduledBatch(prefill, true));
      assertEquals(f.rowCount(), a.rowCount());
      double nativeError = 0;
      double graphError = 0;
      for (int r = 0; r < a.rowCount(); r++) {
        float[] expected = f.row(r);
        float[] got = a.row(r);
        float[] graphs = b.row(r);
        assertClose(expected, got, 0.15 * TfModelRunnerTest.std(expected), "row " + r);
        for (int v = 0; v < expected.length; v++) {
          nativeError += Math.abs(got[v] - expected[v]);
          graphError += Math.abs(graphs[v] - expected[v]);
        }
      }
      assertTrue(
          nativeError <= 1.1 * graphError,
          "native bfloat16 error " + nativeError + " vs the graph's " + graphError);
    }
  }
}
