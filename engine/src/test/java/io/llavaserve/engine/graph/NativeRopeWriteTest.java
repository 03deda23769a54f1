package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The fused rotary op that writes keys and values into the pool ({@link KvPool#ropeWrite}) against
 * the stock graph's rotation ({@code x cos + swap_halves(x) sin}) and scatter ({@link
 * KvPool#write}): the same queries, the same pool contents, the values bit for bit.
 */
class NativeRopeWriteTest {

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  /** Two layers: layer 0 written by the fused op, layer 1 by the stock ops, from the same qkv. */
  private static final class Harness implements AutoCloseable {
    final Graph graph = new Graph();
    final Ops tf = Ops.create(graph);
    final int heads;
    final int kvHeads;
    final int headDim;
    final KvCacheConfig cache;
    final KvPool pool;
    final Placeholder<TFloat32> qkv;
    final Placeholder<TFloat32> cos;
    final Placeholder<TFloat32> sin;
    final Placeholder<TInt32> slots;
    final Operand<TFloat32> fusedQ;
    final Operand<TFloat32> stockQ;
    final List<Operand<TFloat32>> fusedPool;
    final List<Operand<TFloat32>> stockPool;
    final Session session;

    Harness(int heads, int kvHeads, int headDim, KvCacheConfig cache, float scale, int threads) {
      this.heads = heads;
      this.kvHeads = kvHeads;
      this.headDim = headDim;
      this.cache = cache;
      TextConfig text =
          new TextConfig(
              heads * headDim, 64, 2, heads, kvHeads, headDim, 300, 1e-5, 1e4, 4096, "silu", false);
      pool = new KvPool(tf, text, cache, true, threads);
      GraphOps g = new GraphOps(tf, threads, true, false);
      int width = (heads + 2 * kvHeads) * headDim;
      qkv = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, width)));
      cos = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, headDim)));
      sin = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, headDim)));
      slots = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, kvHeads, 3)));

      Operation rope = pool.ropeWrite(0, qkv, cos, sin, slots, heads, scale, threads);
      fusedQ = rope.output(0);

      // The stock graph's rotation, as DecoderStep builds it without the native ops.
      int[] swap = new int[headDim];
      for (int i = 0; i < headDim; i++) {
        swap[i] = (i + headDim / 2) % headDim;
      }
      Operand<TInt32> t = g.dim(qkv, 0);
      Operand<TFloat32> split = g.reshape(qkv, t, heads + 2 * kvHeads, headDim);
      List<Operand<TFloat32>> qkAndV = splitAxis1(split, heads + kvHeads, kvHeads);
      Operand<TFloat32> c = g.reshape(cos, t, 1, headDim);
      Operand<TFloat32> s = g.reshape(sin, t, 1, headDim);
      Operand<TFloat32> qk = qkAndV.get(0);
      qk = g.add(g.mul(qk, c), g.mul(tf.gather(qk, tf.constant(swap), g.i32(2)), s));
      List<Operand<TFloat32>> qAndK = splitAxis1(qk, heads, kvHeads);
      stockQ = g.scale(qAndK.get(0), scale);
      var written = pool.write(1, slots, qAndK.get(1), qkAndV.get(1));

      int[][] everyBlock = new int[1][cache.numBlocks()];
      for (int b = 0; b < cache.numBlocks(); b++) {
        everyBlock[0][b] = b;
      }
      fusedPool = pool.read(0, tf.constant(everyBlock), List.of(() -> rope));
      stockPool = pool.read(1, tf.constant(everyBlock), written);
      session = new Session(graph);
      pool.zero(session);
    }

    private List<Operand<TFloat32>> splitAxis1(Operand<TFloat32> x, int first, int second) {
      return new ArrayList<>(
          tf.splitV(x, tf.constant(new int[] {first, second}), tf.constant(1), 2L).output());
    }

    /** Runs both paths on the same inputs; returns fused q, stock q, then each pool's k and v. */
    float[][] run(float[] qkvData, float[] cosData, float[] sinData, int[] slotData, int tokens) {
      return run(qkvData, cosData, sinData, slotData, tokens, true);
    }

    /** As above, the stock path's three left out (null) unless {@code stock}. */
    float[][] run(
        float[] qkvData,
        float[] cosData,
        float[] sinData,
        int[] slotData,
        int tokens,
        boolean stock) {
      int width = (heads + 2 * kvHeads) * headDim;
      try (TFloat32 x = TFloat32.tensorOf(Shape.of(tokens, width), DataBuffers.of(qkvData));
          TFloat32 ct = TFloat32.tensorOf(Shape.of(tokens, headDim), DataBuffers.of(cosData));
          TFloat32 st = TFloat32.tensorOf(Shape.of(tokens, headDim), DataBuffers.of(sinData));
          TInt32 sl =
              TInt32.tensorOf(Shape.of(tokens, kvHeads, 3), DataBuffers.of(slotData, true, false));
          Result r = runner(x, ct, st, sl, stock).run()) {
        float[][] out = new float[6][];
        int next = 0;
        for (int i = 0; i < 6; i++) {
          if (!stock && (i == 1 || i >= 4)) {
            continue;
          }
          TFloat32 o = (TFloat32) r.get(next++);
          out[i] = new float[(int) o.shape().size()];
          o.asRawTensor().data().asFloats().read(out[i]);
        }
        return out;
      }
    }

    private Session.Runner runner(TFloat32 x, TFloat32 ct, TFloat32 st, TInt32 sl, boolean stock) {
      Session.Runner r =
          session.runner().feed(qkv, x).feed(cos, ct).feed(sin, st).feed(slots, sl).fetch(fusedQ);
      if (stock) {
        r.fetch(stockQ);
      }
      r.fetch(fusedPool.get(0)).fetch(fusedPool.get(1));
      if (stock) {
        r.fetch(stockPool.get(0)).fetch(stockPool.get(1));
      }
      return r;
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }

  /**
   * Random rows, a rotary table for positions 0..tokens-1, and distinct slots in shuffled blocks.
   */
  private static float[][] inputs(Random rnd, int tokens, int heads, int kvHeads, int headDim) {
    float[] x = new float[tokens * (heads + 2 * kvHeads) * headDim];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextGaussian() * (i % 11 == 0 ? 40 : 2));
    }
    float[] cos = new float[tokens * headDim];
    float[] sin = new float[tokens * headDim];
    for (int t = 0; t < tokens; t++) {
      for (int i = 0; i < headDim; i++) {
        int k = i % (headDim / 2);
        double angle = (t + 17) / Math.pow(1e4, (2.0 * k) / headDim);
        cos[t * headDim + i] = (float) Math.cos(angle);
        sin[t * headDim + i] = (float) (Math.sin(angle) * (i < headDim / 2 ? -1 : 1));
      }
    }
    return new float[][] {x, cos, sin};
  }

  private static int[] slots(Random rnd, int tokens, int kvHeads, KvCacheConfig cache) {
    List<Integer> places = new ArrayList<>();
    for (int p = 0; p < cache.numBlocks() * cache.blockSize(); p++) {
      places.add(p);
    }
    Collections.shuffle(places, rnd);
    int[] slots = new int[tokens * kvHeads * 3];
    for (int t = 0; t < tokens; t++) {
      int place = places.get(t);
      for (int h = 0; h < kvHeads; h++) {
        int at = (t * kvHeads + h) * 3;
        slots[at] = place / cache.blockSize();
        slots[at + 1] = h;
        slots[at + 2] = place % cache.blockSize();
      }
    }
    return slots;
  }

  @ParameterizedTest(name = "{0} tokens, {1} heads over {2}, head dim {3}, {4}, {5} threads")
  @CsvSource({
    "1, 4, 4, 64, FLOAT16, 1",
    "1, 4, 4, 64, FLOAT32, 1",
    "5, 4, 2, 72, FLOAT16, 2",
    "5, 4, 1, 8, FLOAT32, 2",
    "70, 8, 2, 128, FLOAT16, 2", // enough elements for several threads
    "70, 8, 2, 128, FLOAT32, 2",
    "33, 2, 2, 16, FLOAT16, 2"
  })
  void writesThePoolAsTheStockOpsDo(
      int tokens, int heads, int kvHeads, int headDim, KvCacheConfig.Dtype dtype, int threads) {
    KvCacheConfig cache = new KvCacheConfig(16, 12, dtype);
    Random rnd = new Random(tokens * 1_000L + heads * 100L + headDim);
    float[][] in = inputs(rnd, tokens, heads, kvHeads, headDim);
    int[] slotData = slots(rnd, tokens, kvHeads, cache);
    float scale = (float) (1 / Math.sqrt(headDim));
    try (Harness h = new Harness(heads, kvHeads, headDim, cache, scale, threads)) {
      float[][] out = h.run(in[0], in[1], in[2], slotData, tokens);
      assertEquals(tokens * heads * headDim, out[0].length);
      assertClose(out[1], out[0], 1e-6, "queries");
      // float16 keys: one rounding of values that may differ in float32's last bit
      assertClose(out[4], out[2], dtype == KvCacheConfig.Dtype.FLOAT16 ? 1e-3 : 1e-6, "keys");
      for (int i = 0; i < out[3].length; i++) {
        if (Float.floatToIntBits(out[3][i]) != Float.floatToIntBits(out[5][i])) {
          throw new AssertionError(
              "values at " + i + ": fused " + out[3][i] + ", stock " + out[5][i]);
        }
      }
      long written = 0;
      for (float v : out[2]) {
        written += v != 0 ? 1 : 0;
      }
      // every key written somewhere, nothing else touched (the rest of the pool stays 0)
      assertTrue(written > tokens * kvHeads * headDim * 9L / 10, "keys written: " + written);
      assertTrue(written <= (long) tokens * kvHeads * headDim, "keys written: " + written);
    }
  }

  @Test
  void aSlotOutsideThePoolFailsTheStepAndWritesNothing() {
    KvCacheConfig cache = new KvCacheConfig(16, 4, KvCacheConfig.Dtype.FLOAT16);
    Random rnd = new Random(7);
    float[][] in = inputs(rnd, 3, 4, 2, 8);
    try (Harness h = new Harness(4, 2, 8, cache, 1f, 1)) {
      int[] slotData = slots(rnd, 3, 2, cache);
      slotData[(2 * 2 + 1) * 3] = 4; // token 2, head 1: block 4 of 4
      RuntimeException e =
          assertThrows(
              RuntimeException.class, () -> h.run(in[0], in[1], in[2], slotData, 3, false));
      assertTrue(
          e.getMessage().contains("slots[2, 1, 0] = 4 outside [0, 4)"), () -> e.getMessage());
      // the pool as it was: a valid step afterwards finds only its own writes
      int[] one = slots(rnd, 1, 2, cache);
      float[][] out = h.run(in[0], in[1], in[2], repeat(one, 3), 3, false);
      long nonZero = 0;
      for (float v : out[3]) {
        nonZero += v != 0 ? 1 : 0;
      }
      assertTrue(nonZero <= 2 * 8, "values written: " + nonZero);
    }
  }

  /** The first token's slots for every token: all write one place. */
  private static int[] repeat(int[] oneToken, int tokens) {
    int[] all = new int[oneToken.length * tokens];
    for (int t = 0; t < tokens; t++) {
      System.arraycopy(oneToken, 0, all, t * oneToken.length, oneToken.length);
    }
    return all;
  }

  private static void assertClose(float[] expected, float[] actual, double rel, String what) {
    assertEquals(expected.length, actual.length, what + " length");
    for (int i = 0; i < expected.length; i++) {
      double tol = rel * Math.max(1, Math.abs(expected[i]));
      if (!(Math.abs(expected[i] - actual[i]) <= tol)) {
        throw new AssertionError(
            what + " at " + i + ": stock " + expected[i] + ", fused " + actual[i]);
      }
    }
  }
}
