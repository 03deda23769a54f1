package io.llavaserve.engine.graph;

import static io.llavaserve.engine.graph.TfModelRunnerTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The native paged-attention kernels (decode and prefill) against plain Java, and the model with
 * them against without.
 */
class NativeAttentionTest {

  @TempDir Path dir;

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
    assertTrue(Kernels.AUTO.nativeAttention());
  }

  /** A pool filled with random keys and values, and the kernel's inputs as placeholders. */
  private static final class Harness implements AutoCloseable {
    final Graph graph = new Graph();
    final Ops tf = Ops.create(graph);
    final TextConfig text;
    final KvCacheConfig cache;
    final KvPool pool;
    final Placeholder<TInt32> slots;
    final Placeholder<TFloat32> k;
    final Placeholder<TFloat32> v;
    final Placeholder<TFloat32> q;
    final Placeholder<TInt32> tables;
    final Placeholder<TInt32> lens;
    final Operand<TFloat32> out;
    final Placeholder<TFloat32> prefillQ;
    final Placeholder<TInt32> positions;
    final Placeholder<TInt32> firstRows;
    final Operand<TFloat32> prefillOut;
    final Session session;
    final float[] keys;
    final float[] values;

    Harness(TextConfig text, KvCacheConfig cache, long seed, int threads) {
      this(text, cache, seed, threads, -1);
    }

    Harness(TextConfig text, KvCacheConfig cache, long seed, int threads, int path) {
      this.text = text;
      this.cache = cache;
      pool = new KvPool(tf, text, cache, true, threads);
      int kvh = text.numKeyValueHeads();
      int hd = text.headDim();
      slots = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, kvh, 3)));
      k = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, kvh, hd)));
      v = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, kvh, hd)));
      q = tf.placeholder(TFloat32.class);
      tables = tf.placeholder(TInt32.class);
      lens = tf.placeholder(TInt32.class);
      var written = pool.write(0, slots, k, v);
      out = pool.attend(0, q, tables, lens, written, threads, path);
      prefillQ = tf.placeholder(TFloat32.class);
      positions = tf.placeholder(TInt32.class);
      firstRows = tf.placeholder(TInt32.class);
      prefillOut =
          pool.attendPrefill(0, prefillQ, tables, positions, firstRows, written, threads, path);
      session = new Session(graph);
      pool.zero(session);

      // Fill every slot of layer 0 with random keys and values, in one write.
      int tokens = cache.numBlocks() * cache.blockSize();
      SplittableRandom rnd = new SplittableRandom(seed);
      keys = random(rnd, tokens * kvh * hd);
      values = random(rnd, tokens * kvh * hd);
      int[] idx = new int[tokens * kvh * 3];
      int at = 0;
      for (int t = 0; t < tokens; t++) {
        for (int h = 0; h < kvh; h++) {
          idx[at++] = t / cache.blockSize();
          idx[at++] = h;
          idx[at++] = t % cache.blockSize();
        }
      }
      // keys[] is indexed [token][head][d]; the pool is [block][head][offset][d].
      try (TInt32 s = TInt32.tensorOf(Shape.of(tokens, kvh, 3), DataBuffers.of(idx, true, false));
          TFloat32 kt = TFloat32.tensorOf(Shape.of(tokens, kvh, hd), DataBuffers.of(keys));
          TFloat32 vt = TFloat32.tensorOf(Shape.of(tokens, kvh, hd), DataBuffers.of(values))) {
        Session.Runner r = session.runner().feed(slots, s).feed(k, kt).feed(v, vt);
        written.forEach(r::addTarget);
        r.run();
      }
    }

    float[] attend(float[] query, int seqs, int[][] blockTables, int[] contextLens) {
      int heads = text.numAttentionHeads();
      int hd = text.headDim();
      try (TFloat32 qt = TFloat32.tensorOf(Shape.of(seqs, heads, hd), DataBuffers.of(query));
          TInt32 lt = TInt32.tensorOf(Shape.of(seqs), DataBuffers.of(contextLens, true, false))) {
        return run(q, qt, blockTables, lens, lt, null, out, Shape.of(seqs, (long) heads * hd));
      }
    }

    /** Plain softmax(q k^T) v over each sequence's tokens, in double precision. */
    float[] expected(float[] query, int seqs, int[][] blockTables, int[] contextLens) {
      int heads = text.numAttentionHeads();
      int kvh = text.numKeyValueHeads();
      int hd = text.headDim();
      int bs = cache.blockSize();
      float[] o = new float[seqs * heads * hd];
      for (int s = 0; s < seqs; s++) {
        for (int h = 0; h < heads; h++) {
          int g = h / (heads / kvh);
          int len = contextLens[s];
          double[] w = new double[len];
          double max = Double.NEGATIVE_INFINITY;
          for (int l = 0; l < len; l++) {
            int token = blockTables[s][l / bs] * bs + l % bs;
            double dot = 0;
            for (int d = 0; d < hd; d++) {
              dot += query[(s * heads + h) * hd + d] * keys[(token * kvh + g) * hd + d];
            }
            w[l] = dot;
            max = Math.max(max, dot);
          }
          double sum = 0;
          for (int l = 0; l < len; l++) {
            w[l] = Math.exp(w[l] - max);
            sum += w[l];
          }
          for (int l = 0; l < len; l++) {
            int token = blockTables[s][l / bs] * bs + l % bs;
            for (int d = 0; d < hd; d++) {
              o[(s * heads + h) * hd + d] +=
                  (float) (w[l] / sum * values[(token * kvh + g) * hd + d]);
            }
          }
        }
      }
      return o;
    }

    /**
     * The prefill kernel with each sequence's queries padded to a rectangle: q [seqs, rows, heads,
     * hd], positions [seqs][rows] (-1 padding); returns [seqs, rows, heads * hd].
     */
    float[] attendPrefill(float[] query, int[][] blockTables, int[][] pos) {
      int rows = pos[0].length;
      int[] first = new int[pos.length];
      for (int s = 0; s < pos.length; s++) {
        first[s] = s * rows;
      }
      return attendPrefillAt(query, pos.length * rows, first, blockTables, pos);
    }

    /**
     * The prefill kernel on the step's queries q [qRows, heads, hd], chunk s's query r at row
     * first[s] + r; returns [qRows - first[0], heads * hd].
     */
    float[] attendPrefillAt(
        float[] query, int qRows, int[] first, int[][] blockTables, int[][] pos) {
      int seqs = pos.length;
      int rows = pos[0].length;
      int heads = text.numAttentionHeads();
      int hd = text.headDim();
      int[] flatPos = new int[seqs * rows];
      for (int s = 0; s < seqs; s++) {
        System.arraycopy(pos[s], 0, flatPos, s * rows, rows);
      }
      try (TFloat32 qt = TFloat32.tensorOf(Shape.of(qRows, heads, hd), DataBuffers.of(query));
          TInt32 pt = TInt32.tensorOf(Shape.of(seqs, rows), DataBuffers.of(flatPos, true, false));
          TInt32 ft = TInt32.tensorOf(Shape.of(seqs), DataBuffers.of(first, true, false))) {
        return run(
            prefillQ,
            qt,
            blockTables,
            positions,
            pt,
            ft,
            prefillOut,
            Shape.of(qRows - (seqs > 0 ? first[0] : 0), (long) heads * hd));
      }
    }

    /** Runs one kernel (nothing written to the pool) and returns its output of shape `shape`. */
    private float[] run(
        Placeholder<TFloat32> qIn,
        TFloat32 qt,
        int[][] blockTables,
        Placeholder<TInt32> rowsIn,
        TInt32 rows,
        TInt32 firsts,
        Operand<TFloat32> fetch,
        Shape shape) {
      int seqs = blockTables.length;
      int width = Arrays.stream(blockTables).mapToInt(t -> t.length).max().orElse(0);
      int[] flat = new int[seqs * width];
      for (int s = 0; s < seqs; s++) {
        System.arraycopy(blockTables[s], 0, flat, s * width, blockTables[s].length);
      }
      int kvh = text.numKeyValueHeads();
      int hd = text.headDim();
      try (TInt32 tt = TInt32.tensorOf(Shape.of(seqs, width), DataBuffers.of(flat, true, false));
          TInt32 noSlots = TInt32.tensorOf(Shape.of(0, kvh, 3));
          TFloat32 noK = TFloat32.tensorOf(Shape.of(0, kvh, hd));
          TInt32 noFirsts = TInt32.tensorOf(Shape.of(0));
          Result r =
              session
                  .runner()
                  .feed(slots, noSlots)
                  .feed(k, noK)
                  .feed(v, noK)
                  .feed(qIn, qt)
                  .feed(tables, tt)
                  .feed(rowsIn, rows)
                  .feed(firstRows, firsts != null ? firsts : noFirsts)
                  .fetch(fetch)
                  .run()) {
        TFloat32 o = (TFloat32) r.get(0);
        assertEquals(shape, o.shape());
        float[] data = new float[(int) shape.size()];
        o.asRawTensor().data().asFloats().read(data);
        return data;
      }
    }

    /** Plain causal softmax(q k^T) v in double precision; padding rows are zeros. */
    float[] expectedPrefill(float[] query, int[][] blockTables, int[][] pos) {
      int rows = pos[0].length;
      int heads = text.numAttentionHeads();
      int hd = text.headDim();
      float[] o = new float[pos.length * rows * heads * hd];
      for (int s = 0; s < pos.length; s++) {
        for (int r = 0; r < rows; r++) {
          if (pos[s][r] < 0) {
            continue;
          }
          int at = (s * rows + r) * heads * hd;
          float[] one =
              expected(
                  Arrays.copyOfRange(query, at, at + heads * hd),
                  1,
                  new int[][] {blockTables[s]},
                  new int[] {pos[s][r] + 1});
          System.arraycopy(one, 0, o, at, one.length);
        }
      }
      return o;
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }

  /** One layer of four query heads of headDim over kvHeads kv heads. */
  private static TextConfig fourHeads(int headDim, int kvHeads) {
    return new TextConfig(
        4 * headDim, 64, 1, 4, kvHeads, headDim, 300, 1e-5, 1e4, 4096, "silu", false);
  }

  /** Values in [-1, 1] on a grid of 2^-10, so a float16 pool holds them exactly. */
  private static float[] random(SplittableRandom rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = rnd.nextInt(-1024, 1025) / 1024f;
    }
    return x;
  }

  /** Shuffled, non-contiguous block tables: a sequence's blocks lie anywhere in the pool. */
  private static int[][] tables(SplittableRandom rnd, int[] lens, int blockSize, int numBlocks) {
    List<Integer> free = new ArrayList<>();
    for (int b = 0; b < numBlocks; b++) {
      free.add(b);
    }
    java.util.Collections.shuffle(free, new java.util.Random(rnd.nextLong()));
    int[][] t = new int[lens.length][];
    int next = 0;
    for (int s = 0; s < lens.length; s++) {
      // one spare block past the context, as the engine's tables often have
      t[s] = new int[(lens[s] + blockSize - 1) / blockSize + 1];
      for (int i = 0; i < t[s].length; i++) {
        t[s][i] = free.get(next++ % numBlocks);
      }
    }
    return t;
  }

  @ParameterizedTest(name = "kv heads {0}, path {1}")
  @org.junit.jupiter.params.provider.CsvSource({"1, 2", "2, 2", "4, 2", "2, 1", "4, 1", "2, 0"})
  void matchesPlainAttention(int kvHeads, int path) {
    TextConfig text = TinySpec.tiny().withKeyValueHeads(kvHeads).toConfig().text();
    KvCacheConfig cache = new KvCacheConfig(4, 600);
    SplittableRandom rnd = new SplittableRandom(kvHeads);
    // 1 and 2 threads; lengths on and off block boundaries, one empty context.
    for (int threads : new int[] {1, 2}) {
      try (Harness h = new Harness(text, cache, 17 + kvHeads, threads, path)) {
        int[] lens = {1, 3, 4, 5, 16, 17, 64, 0, 200, 333, 512, 9};
        int seqs = lens.length;
        int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
        float[] q = random(rnd, seqs * text.numAttentionHeads() * text.headDim());
        assertClose(
            h.expected(q, seqs, t, lens),
            h.attend(q, seqs, t, lens),
            1e-5,
            "kv heads " + kvHeads + ", path " + path + ", threads " + threads);
      }
    }
  }

  /**
   * A step's queries hold its decode rows first and its prefill rows after: the decode kernel reads
   * q's first S rows, one per block table row, whatever follows them.
   */
  @Test
  void decodeReadsTheFirstRowOfEachSequenceAndNoMore() {
    TextConfig text = TinySpec.tiny().toConfig().text();
    KvCacheConfig cache = new KvCacheConfig(16, 40, KvCacheConfig.Dtype.FLOAT16);
    SplittableRandom rnd = new SplittableRandom(41);
    try (Harness h = new Harness(text, cache, 43, 2)) {
      int[] lens = {5, 70, 33};
      int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
      int row = text.numAttentionHeads() * text.headDim();
      float[] q = random(rnd, (lens.length + 7) * row); // 7 prefill rows after the 3 decode rows
      float[] decodeRows = Arrays.copyOf(q, lens.length * row);
      float[] alone = h.attend(decodeRows, lens.length, t, lens);
      assertClose(h.expected(decodeRows, lens.length, t, lens), alone, 1e-5, "decode rows alone");
      float[] withPrefill;
      try (TFloat32 qt =
              TFloat32.tensorOf(
                  Shape.of(lens.length + 7, text.numAttentionHeads(), text.headDim()),
                  DataBuffers.of(q));
          TInt32 lt = TInt32.tensorOf(Shape.of(lens.length), DataBuffers.of(lens, true, false))) {
        withPrefill = h.run(h.q, qt, t, h.lens, lt, null, h.out, Shape.of(lens.length, (long) row));
      }
      assertArrayEquals(alone, withPrefill);
    }
  }

  /**
   * Decode attention at head dims on and off the vector paths' 64 columns of values kept in
   * registers (the columns left over go a row at a time: 16 of 80, 8 of 72, 4 of 68 through the
   * plain loop), float32 and float16 pools, GQA, blocks of 16 as the engine's, on each path.
   */
  @ParameterizedTest(name = "head dim {0}, kv heads {1}, path {2}, {3}")
  @org.junit.jupiter.params.provider.CsvSource({
    "64, 2, 2, FLOAT16",
    "64, 4, 2, FLOAT32",
    "128, 2, 2, FLOAT16",
    "80, 1, 2, FLOAT32",
    "72, 2, 2, FLOAT16",
    "68, 2, 2, FLOAT32",
    "64, 2, 1, FLOAT16",
    "128, 4, 1, FLOAT32",
    "72, 2, 1, FLOAT16",
    "68, 1, 1, FLOAT16",
    "40, 2, 1, FLOAT32",
    "64, 2, 0, FLOAT16",
    "68, 2, 0, FLOAT32"
  })
  void decodeMatchesPlainAttentionAtEveryHeadDim(
      int headDim, int kvHeads, int path, KvCacheConfig.Dtype dtype) {
    int heads = 4;
    TextConfig text = fourHeads(headDim, kvHeads);
    KvCacheConfig cache = new KvCacheConfig(16, 48, dtype);
    SplittableRandom rnd = new SplittableRandom(headDim * 31 + kvHeads * 7 + path);
    int[] lens = {1, 15, 16, 17, 0, 300, 129, 48};
    for (int threads : new int[] {1, 2}) {
      try (Harness h = new Harness(text, cache, headDim + kvHeads, threads, path)) {
        int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
        float[] q = random(rnd, lens.length * heads * headDim);
        assertClose(
            h.expected(q, lens.length, t, lens),
            h.attend(q, lens.length, t, lens),
            2e-6,
            "head dim " + headDim + ", path " + path + ", " + dtype + ", threads " + threads);
      }
    }
  }

  /**
   * A sequence's attention is the same bits whichever sequences share the call: alone, a long one's
   * heads are split over the tasks; among 24, a task takes all of them and reads each block's heads
   * as one run. The same query rows, keys and values, on each path, float16 and float32 pools, head
   * dims of 64 and past the 64 columns kept in registers (80 on AVX-512; 72 and 68 on AVX2, whose
   * last columns go a key at a time), GQA, 1 and 2 threads.
   */
  @ParameterizedTest(name = "head dim {0}, kv heads {1}, path {2}, {3}")
  @org.junit.jupiter.params.provider.CsvSource({
    "64, 2, 2, FLOAT16",
    "64, 4, 2, FLOAT32",
    "80, 2, 2, FLOAT16",
    "128, 4, 2, FLOAT16",
    "64, 2, 1, FLOAT16",
    "72, 2, 1, FLOAT16",
    "68, 4, 1, FLOAT32",
    "64, 4, 0, FLOAT32"
  })
  void aSequenceAttendsTheSameAloneOrAmongMany(
      int headDim, int kvHeads, int path, KvCacheConfig.Dtype dtype) {
    int heads = 4;
    TextConfig text = fourHeads(headDim, kvHeads);
    KvCacheConfig cache = new KvCacheConfig(16, 600, dtype);
    SplittableRandom rnd = new SplittableRandom(headDim * 13 + kvHeads + path);
    int seqs = 24;
    int[] lens = new int[seqs];
    for (int s = 0; s < seqs; s++) {
      lens[s] = s == 5 ? 0 : 1 + rnd.nextInt(240);
    }
    lens[11] = 2100; // long enough alone for two threads, so its heads split over the tasks
    int width = heads * headDim;
    for (int threads : new int[] {1, 2}) {
      try (Harness h = new Harness(text, cache, headDim + kvHeads, threads, path)) {
        int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
        float[] q = random(rnd, seqs * width);
        float[] all = h.attend(q, seqs, t, lens);
        for (int s : new int[] {0, 5, 11, 23}) {
          float[] alone =
              h.attend(
                  Arrays.copyOfRange(q, s * width, (s + 1) * width),
                  1,
                  new int[][] {t[s]},
                  new int[] {lens[s]});
          org.junit.jupiter.api.Assertions.assertArrayEquals(
              Arrays.copyOfRange(all, s * width, (s + 1) * width),
              alone,
              "sequence " + s + " of length " + lens[s] + ", " + threads + " threads");
        }
      }
    }
  }

  /**
   * Blocks of 32 and of 8 keys: the AVX-512 path scores sixteen keys at a time, two groups to a
   * block of 32, one short group to a block of 8.
   */
  @ParameterizedTest(name = "blocks of {0}, {1}")
  @org.junit.jupiter.params.provider.CsvSource({"32, FLOAT16", "32, FLOAT32", "8, FLOAT16"})
  void decodeMatchesPlainAttentionWithOtherBlockSizes(int blockSize, KvCacheConfig.Dtype dtype) {
    TextConfig text = fourHeads(64, 2);
    KvCacheConfig cache = new KvCacheConfig(blockSize, 12 * 32 / blockSize * 4, dtype);
    SplittableRandom rnd = new SplittableRandom(blockSize);
    int[] lens = {1, 7, 8, 9, 31, 32, 33, 47, 250, 0};
    try (Harness h = new Harness(text, cache, blockSize, 2, -1)) {
      int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
      float[] q = random(rnd, lens.length * 4 * 64);
      assertClose(
          h.expected(q, lens.length, t, lens),
          h.attend(q, lens.length, t, lens),
          2e-6,
          "blocks of " + blockSize + ", " + dtype);
    }
  }

  @Test
  void rejectsBlocksOutsideThePoolAndBadLengths() {
    TextConfig text = TinySpec.tiny().toConfig().text();
    KvCacheConfig cache = new KvCacheConfig(4, 8);
    try (Harness h = new Harness(text, cache, 1, 1)) {
      float[] q = new float[text.numAttentionHeads() * text.headDim()];
      TFInvalidArgumentException e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attend(q, 1, new int[][] {{0, 8}}, new int[] {6}));
      assertTrue(e.getMessage().contains("block_tables[0, 1] = 8 outside [0, 8)"), e.getMessage());
      e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attend(q, 1, new int[][] {{0, 1}}, new int[] {9}));
      assertTrue(e.getMessage().contains("context_lens[0] = 9 outside [0, 8]"), e.getMessage());
      // The session is still usable after a rejected call.
      assertEquals(q.length, h.attend(q, 1, new int[][] {{3, 1}}, new int[] {8}).length);
    }
  }

  /**
   * Causal prefill attention over the pool: fresh prompts, a chunk after a cached prefix, a single
   * row and padding, chunks of keys across blocks of 4, GQA, float32 and float16 pools, on each
   * path (AVX-512 takes head_dim 32 at a time and a last 16, AVX2 16 and a last 8; AVX-512 hands a
   * head_dim that is not a multiple of 16 to AVX2, and one that is not a multiple of 8 to plain C),
   * on one and two threads.
   */
  @ParameterizedTest(name = "head dim {0}, kv heads {1}, path {2}, {3}")
  @org.junit.jupiter.params.provider.CsvSource({
    "16, 2, 2, FLOAT32",
    "16, 1, 2, FLOAT16",
    "64, 4, 2, FLOAT16",
    "48, 2, 2, FLOAT16",
    "64, 2, 1, FLOAT32",
    "40, 2, 1, FLOAT32",
    "64, 4, 1, FLOAT16",
    "24, 2, 2, FLOAT32",
    "20, 2, 2, FLOAT16",
    "16, 2, 0, FLOAT32",
    "64, 1, 0, FLOAT16"
  })
  void prefillMatchesPlainAttention(int headDim, int kvHeads, int path, KvCacheConfig.Dtype dtype) {
    int heads = 4;
    TextConfig text = fourHeads(headDim, kvHeads);
    KvCacheConfig cache = new KvCacheConfig(4, 200, dtype);
    SplittableRandom rnd = new SplittableRandom(headDim * 31 + kvHeads * 7 + path);
    // Per sequence: the first position of its chunk and its rows (the rest of Q is padding).
    int[] from = {0, 37, 0, 100, 5};
    int[] rows = {70, 20, 1, 33, 0};
    int q = Arrays.stream(rows).max().orElse(0);
    int[][] pos = new int[from.length][q];
    int[] lens = new int[from.length];
    for (int s = 0; s < from.length; s++) {
      Arrays.fill(pos[s], -1);
      for (int r = 0; r < rows[s]; r++) {
        pos[s][r] = from[s] + r;
      }
      lens[s] = from[s] + rows[s];
    }
    for (int threads : new int[] {1, 2}) {
      try (Harness h = new Harness(text, cache, headDim + kvHeads, threads, path)) {
        int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
        float[] query = random(rnd, from.length * q * heads * headDim);
        assertClose(
            h.expectedPrefill(query, t, pos),
            h.attendPrefill(query, t, pos),
            2e-6,
            "head dim " + headDim + ", path " + path + ", " + dtype + ", threads " + threads);
      }
    }
  }

  /**
   * A long chunk is cut into tiles of query rows whose height depends on how many tasks the call
   * has for its threads (one kv head on two threads: tiles of 32 rows; on one, 64; two kv heads: 64
   * and 128): the rows match plain attention and are the same bits whatever the tiles.
   */
  @ParameterizedTest(name = "kv heads {0}, {1}")
  @org.junit.jupiter.params.provider.CsvSource({"1, FLOAT16", "2, FLOAT32", "2, FLOAT16"})
  void aLongChunkIsTheSameBitsWhateverItsTiles(int kvHeads, KvCacheConfig.Dtype dtype) {
    int heads = 4;
    int headDim = 64;
    TextConfig text = fourHeads(headDim, kvHeads);
    KvCacheConfig cache = new KvCacheConfig(16, 64, dtype);
    SplittableRandom rnd = new SplittableRandom(29 + kvHeads);
    int rows = 300;
    int[][] pos = new int[1][rows];
    for (int r = 0; r < rows; r++) {
      pos[0][r] = 20 + r;
    }
    int[] lens = {20 + rows};
    int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
    float[] query = random(rnd, rows * heads * headDim);
    float[] first = null;
    for (int threads : new int[] {1, 2}) {
      try (Harness h = new Harness(text, cache, 41 + kvHeads, threads)) {
        float[] out = h.attendPrefill(query, t, pos);
        assertClose(h.expectedPrefill(query, t, pos), out, 2e-6, "threads " + threads);
        if (first == null) {
          first = out;
        } else {
          assertArrayEquals(first, out, "one thread against two");
        }
      }
    }
  }

  /**
   * As a step lays its queries out: the decode rows first, then each chunk's tokens in order with
   * no padding between them. Each query is read at its chunk's first row plus its index and its
   * result written at that row less the first chunk's, the same numbers as the padded layout gives;
   * a gap between chunks comes back as zeros; first rows that would overlap the next chunk or run
   * past q are refused, naming the chunk.
   */
  @Test
  void prefillReadsAndWritesTheChunksWhereTheirTokensLie() {
    int heads = 4;
    int headDim = 16;
    TextConfig text = fourHeads(headDim, 2);
    KvCacheConfig cache = new KvCacheConfig(4, 200, KvCacheConfig.Dtype.FLOAT16);
    SplittableRandom rnd = new SplittableRandom(11);
    int decodeRows = 3;
    int[] from = {0, 37, 5, 100};
    int[] rows = {70, 20, 1, 33};
    int[] gap = {0, 0, 2, 0}; // two rows nobody takes before chunk 2
    int width = Arrays.stream(rows).max().orElse(0);
    int[][] pos = new int[from.length][width];
    int[] lens = new int[from.length];
    int[] first = new int[from.length];
    int row = decodeRows;
    for (int s = 0; s < from.length; s++) {
      Arrays.fill(pos[s], -1);
      for (int r = 0; r < rows[s]; r++) {
        pos[s][r] = from[s] + r;
      }
      lens[s] = from[s] + rows[s];
      row += gap[s];
      first[s] = row;
      row += rows[s];
    }
    int qRows = row + 1; // and one row past the last chunk
    int stride = heads * headDim;
    for (int threads : new int[] {1, 2}) {
      try (Harness h = new Harness(text, cache, 5, threads)) {
        int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
        float[] query = random(rnd, qRows * stride);
        // The same queries padded to a rectangle, and what the kernel gives for them there.
        float[] padded = new float[from.length * width * stride];
        for (int s = 0; s < from.length; s++) {
          System.arraycopy(query, first[s] * stride, padded, s * width * stride, rows[s] * stride);
        }
        float[] expected = h.attendPrefill(padded, t, pos);
        assertClose(h.expectedPrefill(padded, t, pos), expected, 2e-6, "padded");

        float[] out = h.attendPrefillAt(query, qRows, first, t, pos);
        assertEquals((qRows - decodeRows) * stride, out.length);
        float[] want = new float[out.length];
        for (int s = 0; s < from.length; s++) {
          System.arraycopy(
              expected,
              s * width * stride,
              want,
              (first[s] - decodeRows) * stride,
              rows[s] * stride);
        }
        assertArrayEquals(want, out, "threads " + threads);
      }
    }

    try (Harness h = new Harness(text, cache, 5, 1)) {
      int[][] t = tables(rnd, lens, cache.blockSize(), cache.numBlocks());
      float[] query = random(rnd, qRows * stride);
      int[] overlap = first.clone();
      overlap[1] = first[0] + rows[0] - 1; // chunk 0's last query would take chunk 1's first row
      TFInvalidArgumentException e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attendPrefillAt(query, qRows, overlap, t, pos));
      assertTrue(
          e.getMessage().contains("first_rows[0] = 3: its 70 queries must take rows in [3, 72)"),
          e.getMessage());
      int[] past = first.clone();
      past[3] = qRows - 1; // 33 queries from the last row
      e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attendPrefillAt(query, qRows, past, t, pos));
      assertTrue(e.getMessage().contains("first_rows[3] = " + (qRows - 1)), e.getMessage());
    }
  }

  @Test
  void prefillRejectsBadPositionsAndBlocks() {
    TextConfig text = TinySpec.tiny().toConfig().text();
    KvCacheConfig cache = new KvCacheConfig(4, 8);
    try (Harness h = new Harness(text, cache, 1, 1)) {
      float[] q = new float[2 * text.numAttentionHeads() * text.headDim()];
      TFInvalidArgumentException e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attendPrefill(q, new int[][] {{0, 1}}, new int[][] {{7, 8}}));
      assertTrue(e.getMessage().contains("positions[0, 1] = 8 outside [-1, 8)"), e.getMessage());
      e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attendPrefill(q, new int[][] {{0, 1}}, new int[][] {{-2, 0}}));
      assertTrue(e.getMessage().contains("positions[0, 0] = -2 outside [-1, 8)"), e.getMessage());
      e =
          assertThrows(
              TFInvalidArgumentException.class,
              () -> h.attendPrefill(q, new int[][] {{0, 8}}, new int[][] {{3, 4}}));
      assertTrue(e.getMessage().contains("block_tables[0, 1] = 8 outside [0, 8)"), e.getMessage());
      // The session is still usable after a rejected call; padding rows come back as zeros.
      float[] out = h.attendPrefill(q, new int[][] {{3, 1}}, new int[][] {{-1, 6}});
      for (int i = 0; i < out.length / 2; i++) {
        assertEquals(0f, out[i]);
      }
    }
  }

  /**
   * The whole model: decode steps of many sequences give the same logits either way, with a float32
   * or a float16 pool (both kernels read the same float16 values and compute in float32).
   */
  @ParameterizedTest(name = "kv heads {0}, {1}")
  @org.junit.jupiter.params.provider.CsvSource({"2, FLOAT32", "4, FLOAT32", "2, FLOAT16"})
  void modelDecodesTheSameWithEitherKernel(int kvHeads, KvCacheConfig.Dtype dtype)
      throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny().withKeyValueHeads(kvHeads));
    KvCacheConfig cache = new KvCacheConfig(4, 512, dtype);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner nat =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.FLOAT32, Kernels.NATIVE);
        TfModelRunner graph =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.FLOAT32, Kernels.GRAPH)) {
      assertTrue(nat.nativeAttention());
      assertFalse(graph.nativeAttention());
      SplittableRandom rnd = new SplittableRandom(kvHeads);
      int vocab = ckpt.config().text().vocabSize() - 100;
      int seqs = 20;
      int[] lens = new int[seqs];
      int[][] tables = new int[seqs][];
      int[][] tokens = new int[seqs][];
      for (int s = 0; s < seqs; s++) {
        lens[s] = 1 + rnd.nextInt(60);
        tables[s] = TfModelRunnerTest.blocks(s * 24, 24 * 4, 4);
        tokens[s] = new int[lens[s]];
        for (int i = 0; i < lens[s]; i++) {
          tokens[s][i] = 3 + rnd.nextInt(vocab);
        }
      }
      // Prefill all (one batch), then ten decode steps of all twenty, then a mixed step.
      List<SequenceChunk> prefill = new ArrayList<>();
      for (int s = 0; s < seqs; s++) {
        prefill.add(SequenceChunk.text(tokens[s], 0, tables[s]));
      }
      // float16 keys are written from hidden states that differ in the last float32 bits, and a
      // value near a float16 rounding boundary can land on either side.
      double tol = dtype == KvCacheConfig.Dtype.FLOAT16 ? 1e-3 : 1e-5;
      compare(nat, graph, prefill, "prefill", tol);
      for (int step = 0; step < 10; step++) {
        List<SequenceChunk> decode = new ArrayList<>();
        for (int s = 0; s < seqs; s++) {
          decode.add(SequenceChunk.text(new int[] {3 + rnd.nextInt(vocab)}, lens[s]++, tables[s]));
        }
        compare(nat, graph, decode, "decode step " + step, tol);
      }
      List<SequenceChunk> mixed = new ArrayList<>();
      mixed.add(SequenceChunk.text(new int[] {5}, lens[0], tables[0]));
      mixed.add(SequenceChunk.text(new int[] {6, 7, 8}, lens[1], tables[1]));
      compare(nat, graph, mixed, "mixed", tol);
    }
  }

  /**
   * Long prefills in chunks (the second chunk of each sequence attending over the cached first),
   * several sequences in a step, beside a decode row: with the native kernels (prefill attention,
   * decode attention, the fused ops) the logits are the stock ops'.
   */
  @ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.EnumSource(
      value = KvCacheConfig.Dtype.class,
      names = {"FLOAT32", "FLOAT16"})
  void chunkedPrefillMatchesTheStockOps(KvCacheConfig.Dtype dtype) throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny().withKeyValueHeads(2));
    KvCacheConfig cache = new KvCacheConfig(16, 256, dtype);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner nat =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.FLOAT32, Kernels.NATIVE);
        TfModelRunner graph =
            NativeTestSupport.load(ckpt, cache, MatmulPrecision.FLOAT32, Kernels.GRAPH)) {
      SplittableRandom rnd = new SplittableRandom(41);
      int vocab = ckpt.config().text().vocabSize() - 100;
      int[] firstChunk = {150, 37, 300};
      int[] secondChunk = {170, 45, 1};
      int[][] tables = new int[firstChunk.length][];
      int[][] ids = new int[firstChunk.length][];
      for (int s = 0; s < tables.length; s++) {
        tables[s] = TfModelRunnerTest.blocks(s * 32, 512, 16);
        ids[s] = new int[firstChunk[s] + secondChunk[s] + 1];
        for (int i = 0; i < ids[s].length; i++) {
          ids[s][i] = 3 + rnd.nextInt(vocab);
        }
      }
      double tol = dtype == KvCacheConfig.Dtype.FLOAT16 ? 1e-3 : 1e-5;
      List<SequenceChunk> first = new ArrayList<>();
      List<SequenceChunk> second = new ArrayList<>();
      for (int s = 0; s < tables.length; s++) {
        first.add(SequenceChunk.text(Arrays.copyOf(ids[s], firstChunk[s]), 0, tables[s]));
      }
      compare(nat, graph, first, "first chunks", tol);
      // Sequence 2 decodes one token while 0 and 1 prefill their second chunks.
      for (int s = 0; s < tables.length; s++) {
        int from = firstChunk[s];
        second.add(
            SequenceChunk.text(
                Arrays.copyOfRange(ids[s], from, from + secondChunk[s]), from, tables[s]));
      }
      compare(nat, graph, second, "second chunks beside a decode row", tol);
    }
  }

  /** A float16 pool changes the logits by about float16's precision, no more. */
  @Test
  void float16PoolStaysCloseToFloat32() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner half =
            TfModelRunner.load(ckpt, new KvCacheConfig(4, 64, KvCacheConfig.Dtype.FLOAT16));
        TfModelRunner exact = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      SplittableRandom rnd = new SplittableRandom(9);
      int[] ids = new int[40];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = 3 + rnd.nextInt(ckpt.config().text().vocabSize() - 100);
      }
      int[] table = TfModelRunnerTest.blocks(0, 64, 4);
      // Prefill 30, then decode 10 one at a time: every later position reads float16 keys.
      ScheduledBatch prefill =
          new ScheduledBatch(List.of(SequenceChunk.text(Arrays.copyOf(ids, 30), 0, table)), true);
      StepOutput a = half.execute(prefill);
      StepOutput b = exact.execute(prefill);
      for (int pos = 30; pos < 40; pos++) {
        ScheduledBatch step =
            ScheduledBatch.withLogits(
                List.of(SequenceChunk.text(new int[] {ids[pos]}, pos, table)));
        a = half.execute(step);
        b = exact.execute(step);
        float[] expected = b.row(0);
        double spread = TfModelRunnerTest.std(expected);
        assertClose(expected, a.row(0), 0.01 * spread, "position " + pos);
      }
    }
  }

  private static void compare(
      TfModelRunner a, TfModelRunner b, List<SequenceChunk> chunks, String what, double tol) {
    StepOutput x = a.execute(ScheduledBatch.withLogits(chunks));
    StepOutput y = b.execute(ScheduledBatch.withLogits(chunks));
    assertEquals(y.rowCount(), x.rowCount());
    for (int r = 0; r < x.rowCount(); r++) {
      assertClose(y.row(r), x.row(r), tol, what + " row " + r);
    }
  }
}
