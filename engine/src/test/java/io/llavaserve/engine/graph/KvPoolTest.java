package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

class KvPoolTest {

  /**
   * Every element of every layer's keys and values is 0 after zero(), natively or with TensorFlow's
   * fill, and a write then lands in place: the written slot reads back, the rest stays 0.
   */
  @ParameterizedTest
  @CsvSource({"true, FLOAT16", "true, FLOAT32", "false, FLOAT16", "false, FLOAT32"})
  void zeroedEverywhereThenWrittenInPlace(boolean nativeZero, KvCacheConfig.Dtype dtype) {
    assumeTrue(!nativeZero || NativeKernels.available(), NativeKernels::unavailableReason);
    TextConfig text = TinySpec.tiny().toConfig().text();
    KvCacheConfig cache = new KvCacheConfig(4, 300, dtype);
    int kvh = text.numKeyValueHeads();
    int hd = text.headDim();
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      KvPool pool = new KvPool(tf, text, cache, nativeZero, 2);
      Placeholder<TInt32> slots =
          tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, kvh, 3)));
      Placeholder<TFloat32> k =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, kvh, hd)));
      Placeholder<TFloat32> v =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, kvh, hd)));
      int last = text.numHiddenLayers() - 1;
      var written = pool.write(last, slots, k, v);
      int[][] everyBlock = new int[1][cache.numBlocks()];
      for (int b = 0; b < cache.numBlocks(); b++) {
        everyBlock[0][b] = b;
      }
      List<Operand<TFloat32>> read = pool.read(last, tf.constant(everyBlock), written);
      List<Operand<TFloat32>> first = pool.read(0, tf.constant(everyBlock), List.of());
      try (Session session = new Session(graph)) {
        pool.zero(session);
        int[] slot = new int[kvh * 3];
        float[] kv = new float[kvh * hd];
        for (int h = 0; h < kvh; h++) {
          slot[3 * h] = 7; // block 7, head h, offset 2
          slot[3 * h + 1] = h;
          slot[3 * h + 2] = 2;
        }
        java.util.Arrays.fill(kv, 1.5f);
        float[] vv = new float[kvh * hd];
        java.util.Arrays.fill(vv, 2.5f);
        try (TInt32 s = TInt32.tensorOf(Shape.of(1, kvh, 3), DataBuffers.of(slot));
            TFloat32 kt = TFloat32.tensorOf(Shape.of(1, kvh, hd), DataBuffers.of(kv));
            TFloat32 vt = TFloat32.tensorOf(Shape.of(1, kvh, hd), DataBuffers.of(vv));
            Result r =
                session
                    .runner()
                    .feed(slots, s)
                    .feed(k, kt)
                    .feed(v, vt)
                    .fetch(read.get(0))
                    .fetch(read.get(1))
                    .fetch(first.get(0))
                    .fetch(first.get(1))
                    .run()) {
          // [1, blocks, kv_heads, block_size, head_dim]
          // Keys and values of every layer are buffers of their own: each reads its own write.
          for (int i = 0; i < 2; i++) {
            float expected = i == 0 ? 1.5f : 2.5f;
            TFloat32 t = (TFloat32) r.get(i);
            long nonZero = 0;
            double sum = 0;
            for (long e = 0; e < t.size(); e++) {
              float x = t.asRawTensor().data().asFloats().getFloat(e);
              nonZero += x != 0 ? 1 : 0;
              sum += x;
            }
            assertEquals((long) kvh * hd, nonZero, "only the written slot");
            assertEquals((double) expected * kvh * hd, sum, 1e-9);
            long at = ((7L * kvh) * 4 + 2) * hd; // block 7, head 0, offset 2
            assertEquals(expected, t.asRawTensor().data().asFloats().getFloat(at));
          }
          for (int i = 2; i < 4; i++) {
            TFloat32 untouched = (TFloat32) r.get(i);
            for (long e = 0; e < untouched.size(); e++) {
              assertTrue(untouched.asRawTensor().data().asFloats().getFloat(e) == 0f, "layer 0");
            }
          }
        }
      }
    }
  }
}
