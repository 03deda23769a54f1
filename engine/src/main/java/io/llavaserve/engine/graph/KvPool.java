package io.llavaserve.engine.graph;

import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Empty;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.VarHandleOp;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;

/**
 * The paged KV cache on the device: per layer, one key and one value variable shaped {@code
 * [num_blocks, kv_heads, block_size, head_dim]}, in float32 or float16. The step graph writes new
 * keys and values by (block, head, offset) and reads whole blocks by block table; the pool never
 * travels to Java.
 *
 * <p>Heads sit outside the block's token axis so that a gathered block table, {@code [seqs, blocks,
 * kv_heads, block_size, head_dim]}, is already a batch of per-head matrices that attention can
 * multiply without first transposing the keys and values.
 */
final class KvPool {

  private final Ops tf;
  private final KvCacheConfig config;
  private final List<VarHandleOp> keys = new ArrayList<>();
  private final List<VarHandleOp> values = new ArrayList<>();
  private final Class<? extends TNumber> element;
  private final boolean nativeZero;
  private final int zeroThreads;
  private final long[] dims;

  /**
   * @param nativeZero zero the pool with the native op in place (the pool on the CPU, the native
   *     ops loaded), else with TensorFlow's fill
   * @param zeroThreads threads of the native zeroing
   */
  KvPool(Ops tf, TextConfig text, KvCacheConfig config, boolean nativeZero, int zeroThreads) {
    this.tf = tf.withSubScope("kv_pool");
    this.config = config;
    this.element = config.dtype() == KvCacheConfig.Dtype.FLOAT16 ? TFloat16.class : TFloat32.class;
    long[] dims = {config.numBlocks(), text.numKeyValueHeads(), config.blockSize(), text.headDim()};
    Shape shape = Shape.of(dims);
    for (int i = 0; i < text.numHiddenLayers(); i++) {
      // Distinct shared names: handles with an empty one would all share a single resource.
      keys.add(this.tf.varHandleOp(element, shape, VarHandleOp.sharedName("kv_k" + i)));
      values.add(this.tf.varHandleOp(element, shape, VarHandleOp.sharedName("kv_v" + i)));
    }
    // Zeroed once by zero(), so that padded reads meet finite numbers (masked weights are 0).
    this.nativeZero = nativeZero;
    this.zeroThreads = zeroThreads;
    this.dims = dims;
  }

  KvCacheConfig config() {
    return config;
  }

  /**
   * Writes k and v ([tokens, kv_heads, head_dim]) of layer {@code layer} at {@code slots} ([tokens,
   * kv_heads, 3]: block, head, offset).
   */
  List<Op> write(int layer, Operand<TInt32> slots, Operand<TFloat32> k, Operand<TFloat32> v) {
    return List.of(
        tf.resourceScatterNdUpdate(keys.get(layer), slots, stored(k)),
        tf.resourceScatterNdUpdate(values.get(layer), slots, stored(v)));
  }

  /**
   * The fused Q/K/V projection's output {@code qkv} ([tokens, (heads + 2 kv_heads) * head_dim])
   * split by head, queries and keys rotated by the step's {@code cos} and signed {@code sin} rows
   * ([tokens, head_dim]) and queries scaled by {@code qScale}, in one native op that also writes
   * each token's rotated keys and its values into layer {@code layer}'s pool at {@code slots}
   * ([tokens, kv_heads, 3]: block, head, offset), in place and in the pool's element type: no key
   * or value tensor, cast or scatter in the graph. Returns the op; its output 0 is the queries,
   * [tokens, heads, head_dim], and the pool's readers run after it.
   */
  Operation ropeWrite(
      int layer,
      Operand<TFloat32> qkv,
      Operand<TFloat32> cos,
      Operand<TFloat32> sin,
      Operand<TInt32> slots,
      int heads,
      float qScale,
      int threads) {
    return tf.scope()
        .opBuilder(NativeKernels.ROPE_WRITE, "rope_write_" + layer)
        .addInput(qkv.asOutput())
        .addInput(cos.asOutput())
        .addInput(sin.asOutput())
        .addInput(slots.asOutput())
        .addInput(keys.get(layer).resource().asOutput())
        .addInput(values.get(layer).resource().asOutput())
        .setAttr("heads", (long) heads)
        .setAttr("kv_heads", dims[1])
        .setAttr("head_dim", dims[3])
        .setAttr("q_scale", qScale)
        .setAttr("num_threads", (long) threads)
        .build();
  }

  /**
   * Reads the blocks named by {@code blockTables} ([seqs, blocks]) after {@code after} ran: keys
   * and values, each [seqs, blocks, kv_heads, block_size, head_dim].
   */
  List<Operand<TFloat32>> read(int layer, Operand<TInt32> blockTables, List<Op> after) {
    Ops ordered = tf.withControlDependencies(after);
    return List.of(
        computed(ordered.resourceGather(keys.get(layer), blockTables, element)),
        computed(ordered.resourceGather(values.get(layer), blockTables, element)));
  }

  /** x in the pool's element type. */
  private Operand<? extends TNumber> stored(Operand<TFloat32> x) {
    return element == TFloat32.class ? x : tf.dtypes.cast(x, element);
  }

  /** Pool elements as float32, for attention. */
  @SuppressWarnings("unchecked")
  private Operand<TFloat32> computed(Operand<? extends TNumber> x) {
    return element == TFloat32.class ? (Operand<TFloat32>) x : tf.dtypes.cast(x, TFloat32.class);
  }

  /**
   * Decode attention of one query per sequence, q [seqs, heads, head_dim] (already scaled), over
   * the first {@code contextLens} keys of each sequence's blocks, by the native kernel reading the
   * pool in place after {@code after} ran. Returns [seqs, heads * head_dim].
   */
  Operand<TFloat32> attend(
      int layer,
      Operand<TFloat32> q,
      Operand<TInt32> blockTables,
      Operand<TInt32> contextLens,
      List<Op> after,
      int threads) {
    return attend(layer, q, blockTables, contextLens, after, threads, -1);
  }

  /**
   * As {@link #attend(int, Operand, Operand, Operand, List, int)}, on at most kernel path {@code
   * path} (-1 the best the CPU has; 0 plain, 1 AVX2, 2 AVX-512), for tests of the lower paths.
   */
  Operand<TFloat32> attend(
      int layer,
      Operand<TFloat32> q,
      Operand<TInt32> blockTables,
      Operand<TInt32> contextLens,
      List<Op> after,
      int threads,
      int path) {
    return pagedOp(
        NativeKernels.PAGED_ATTENTION,
        layer,
        q,
        blockTables,
        List.of(contextLens),
        after,
        threads,
        path);
  }

  /**
   * Causal prefill attention by the native kernel reading the pool in place after {@code after}
   * ran, on at most kernel path {@code path} (-1 the best the CPU has; 0 plain, 1 AVX2, 2 AVX-512).
   * q is the step's [T, heads, head_dim] (already scaled); query r of chunk s (positions [seqs, Q],
   * -1 for padding: no query) is q's row firstRows[s] + r and sees keys 0 .. its position of its
   * sequence's blocks. Returns [T - firstRows[0], heads * head_dim]: each query's result at its q
   * row less firstRows[0], zeros in rows no query takes.
   */
  Operand<TFloat32> attendPrefill(
      int layer,
      Operand<TFloat32> q,
      Operand<TInt32> blockTables,
      Operand<TInt32> positions,
      Operand<TInt32> firstRows,
      List<Op> after,
      int threads,
      int path) {
    return pagedOp(
        NativeKernels.PAGED_PREFILL_ATTENTION,
        layer,
        q,
        blockTables,
        List.of(positions, firstRows),
        after,
        threads,
        path);
  }

  /**
   * A native op over layer {@code layer}'s pool variables: q, k, v, block tables, then {@code
   * rows}' int32 inputs in order.
   */
  private Operand<TFloat32> pagedOp(
      String name,
      int layer,
      Operand<TFloat32> q,
      Operand<TInt32> blockTables,
      List<Operand<TInt32>> rows,
      List<Op> after,
      int threads,
      int path) {
    var builder =
        tf.withControlDependencies(after)
            .scope()
            .opBuilder(name, name + "_" + layer)
            .addInput(q.asOutput())
            .addInput(keys.get(layer).resource().asOutput())
            .addInput(values.get(layer).resource().asOutput())
            .addInput(blockTables.asOutput());
    for (Operand<TInt32> r : rows) {
      builder.addInput(r.asOutput());
    }
    return builder
        .setAttr("num_threads", (long) threads)
        .setAttr("path", (long) path)
        .build()
        .output(0);
  }

  /**
   * Zeroes every pool variable, in one session call, each from an initial value of its own that the
   * graph optimizer cannot merge with another's. Natively, the variable first takes an
   * uninitialised buffer ({@code Empty}, which the optimizer leaves alone), which the op then
   * advises as huge pages and clears: a pool of gigabytes faults in 2 MiB at a time. With
   * TensorFlow's ops, it takes a zeros tensor filled from a scalar fed to it alone, which it adopts
   * as the buffer's only reference. Either way the first scatter writes in place: zeros shared by
   * the variables, or folded into a constant, left each buffer referenced twice, and TensorFlow
   * then copied the whole variable at its first write.
   */
  void zero(Session session) {
    Ops init = tf.withSubScope("zero");
    Operand<TInt32> shape =
        init.constant(java.util.Arrays.stream(dims).mapToInt(Math::toIntExact).toArray());
    List<VarHandleOp> all = new ArrayList<>(keys);
    all.addAll(values);
    List<Tensor> scalars = new ArrayList<>();
    try {
      Session.Runner r = session.runner();
      for (VarHandleOp variable : all) {
        if (nativeZero) {
          Op assign =
              init.assignVariableOp(variable, init.empty(shape, element, Empty.init(false)));
          r.addTarget(
              init.withControlDependencies(List.of(assign))
                  .scope()
                  .opBuilder(NativeKernels.POOL_ZERO, "pool_zero")
                  .addInput(variable.resource().asOutput())
                  .setAttr("num_threads", (long) zeroThreads)
                  .build());
        } else {
          Placeholder<? extends TNumber> fill =
              init.placeholder(element, Placeholder.shape(Shape.scalar()));
          Tensor scalar = element == TFloat16.class ? TFloat16.scalarOf(0f) : TFloat32.scalarOf(0f);
          scalars.add(scalar);
          r.feed(fill, scalar).addTarget(init.assignVariableOp(variable, init.fill(shape, fill)));
        }
      }
      r.run();
    } finally {
      scalars.forEach(Tensor::close);
    }
  }
}
