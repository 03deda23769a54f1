package io.llavaserve.engine.graph;

import io.llavaserve.engine.sampling.RowOutput;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.math.Cumsum;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * The end of a decoder step that keeps the logits on the device: per row the K most likely tokens
 * (K as the step's neediest row asks, at most {@link RowOutput#CANDIDATES}; 1 is an argmax), the
 * log-normaliser, a draw over the whole vocabulary (inverse CDF at the row's temperature, weights
 * under min-p zeroed, at the row's uniform number; weights in float32, their running sum in
 * float64), and the whole rows the host asked for. The session fetches only what the step's rows
 * need, so the graph computes only that.
 *
 * <p>Each of those comes twice: over the raw logits, and over the logits with a token mask per row
 * applied (ids a row's grammar does not allow set to -infinity, one bit per id fed as bytes; an
 * unconstrained row of such a step is fed all ones). A step with a constrained row fetches the
 * masked set, a step without one the raw set and pays nothing for masks. Whole rows are always the
 * raw logits.
 */
final class SamplingHead {

  final Placeholder<TFloat32> temperature; // [S']
  final Placeholder<TFloat32> minP; // [S']
  final Placeholder<TFloat32> uniform; // [S']
  final Placeholder<TInt32> fullRowIndex; // [F] logits rows copied out whole
  final Placeholder<TInt32> candidates; // scalar K, 1 for an all-greedy step
  final Placeholder<TUint8> mask; // [S', ceil(vocab / 8)] bit (id & 7) of byte id >> 3

  final Outputs raw;
  final Outputs masked;
  final Operand<TFloat32> fullRows; // [F, vocab]

  /** What the step computes from one version of its logits. */
  static final class Outputs {
    final Operand<TFloat32> topLogits; // [S', K]
    final Operand<TInt32> topIds; // [S', K]
    final Operand<TFloat32> logSumExp; // [S']
    final Operand<TInt32> drawn; // [S']
    final Operand<TFloat32> drawnLogit; // [S']

    Outputs(GraphOps g, Operand<TFloat32> logits, int vocab, SamplingHead in) {
      // TopKV2 orders equal values by lower index, as the host's TopK does; k = 1 is its argmax.
      var top = g.tf.nn.topK(logits, in.candidates, TInt32.class);
      topLogits = top.values();
      topIds = top.indices();

      Operand<TFloat32> max =
          g.tf.slice(topLogits, g.tf.constant(new int[] {0, 0}), g.tf.constant(new int[] {-1, 1}));
      Operand<TFloat32> shifted = g.tf.math.sub(logits, max);
      logSumExp =
          g.reshape(
              g.tf.math.add(
                  max,
                  g.tf.math.log(
                      g.tf.reduceSum(
                          g.tf.math.exp(shifted),
                          g.i32(1),
                          org.tensorflow.op.core.ReduceSum.keepDims(true)))),
              -1);

      // Inverse CDF: the first id whose running weight exceeds uniform * total. A greedy row's
      // temperature of 0 gives weight 1 to the top logit and 0 elsewhere; its draw is not used.
      Operand<TFloat32> invT =
          g.reshape(
              g.tf.math.div(g.f32(1f), g.tf.math.maximum(in.temperature, g.f32(1e-6f))), -1, 1);
      Operand<TFloat32> w = g.tf.math.exp(g.tf.math.mul(shifted, invT));
      Operand<TFloat32> keep =
          g.tf.dtypes.cast(g.tf.math.greaterEqual(w, g.reshape(in.minP, -1, 1)), TFloat32.class);
      // The running sum in float64: each token's share of a flat distribution is 1/vocab of the
      // total, finer than float32's rounding over a long sum, and how the sum is blocked must not
      // decide which token a seeded request draws.
      Operand<TFloat64> cumulative =
          g.tf.math.cumsum(
              g.tf.dtypes.cast(g.tf.math.mul(w, keep), TFloat64.class),
              g.i32(1),
              Cumsum.exclusive(false));
      Operand<TFloat64> total =
          g.tf.slice(
              cumulative,
              g.tf.constant(new int[] {0, vocab - 1}),
              g.tf.constant(new int[] {-1, 1}));
      Operand<TFloat64> target =
          g.tf.math.mul(g.tf.dtypes.cast(g.reshape(in.uniform, -1, 1), TFloat64.class), total);
      Operand<TInt32> index =
          g.tf.math.minimum(
              g.reshape(g.tf.upperBound(cumulative, target, TInt32.class), -1), g.i32(vocab - 1));
      drawn = index;
      Operand<TInt32> rows = g.dim(logits, 0);
      Operand<TInt32> flat =
          g.tf.math.add(g.tf.math.mul(g.tf.range(g.i32(0), rows, g.i32(1)), g.i32(vocab)), index);
      drawnLogit = g.tf.gather(g.reshape(logits, -1), flat, g.i32(0));
    }
  }

  /**
   * @param logits {@code [S', vocab]}
   * @param prefix placeholder names' prefix, one per step mode
   */
  SamplingHead(GraphOps g, Operand<TFloat32> logits, int vocab, String prefix) {
    temperature = input(g, prefix + "temperature", TFloat32.class);
    minP = input(g, prefix + "min_p", TFloat32.class);
    uniform = input(g, prefix + "uniform", TFloat32.class);
    fullRowIndex = input(g, prefix + "full_row_index", TInt32.class);
    candidates =
        g.tf
            .withName(prefix + "candidates")
            .placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
    mask =
        g.tf
            .withName(prefix + "token_mask")
            .placeholder(TUint8.class, Placeholder.shape(Shape.of(-1, -1)));

    raw = new Outputs(g, logits, vocab, this);
    masked = new Outputs(g, masked(g, logits, vocab), vocab, this);
    fullRows = g.tf.gather(logits, fullRowIndex, g.i32(0));
  }

  /** {@code logits} with every id whose bit in {@link #mask} is 0 set to -infinity. */
  private Operand<TFloat32> masked(GraphOps g, Operand<TFloat32> logits, int vocab) {
    // [S', bytes, 8]: byte b's bit j is id 8b + j; the reshape lays the ids out in order.
    Operand<TUint8> bitOfId =
        g.tf.bitwise.bitwiseAnd(
            g.tf.expandDims(mask, g.i32(-1)),
            g.tf.constant(new byte[] {1, 2, 4, 8, 16, 32, 64, (byte) 128}));
    int padded = ((vocab + 7) / 8) * 8;
    Operand<TUint8> perId = g.tf.reshape(bitOfId, g.tf.constant(new int[] {-1, padded}));
    if (padded != vocab) {
      perId =
          g.tf.slice(perId, g.tf.constant(new int[] {0, 0}), g.tf.constant(new int[] {-1, vocab}));
    }
    Operand<TBool> allowed = g.tf.math.notEqual(perId, g.tf.constant((byte) 0));
    // SelectV2 broadcasts the scalar: no [S', vocab] fill.
    return g.tf.select(allowed, logits, g.f32(Float.NEGATIVE_INFINITY));
  }

  private static <T extends org.tensorflow.types.family.TType> Placeholder<T> input(
      GraphOps g, String name, Class<T> type) {
    return g.tf.withName(name).placeholder(type, Placeholder.shape(Shape.of(-1)));
  }

  /** The operands a step fetches, in order, for the given needs. */
  List<Operand<?>> fetches(boolean logprobs, boolean draws, boolean full, boolean withMask) {
    Outputs o = withMask ? masked : raw;
    List<Operand<?>> out = new java.util.ArrayList<>(List.of(o.topLogits, o.topIds));
    if (logprobs) {
      out.add(o.logSumExp);
    }
    if (draws) {
      out.add(o.drawn);
      out.add(o.drawnLogit);
    }
    if (full) {
      out.add(fullRows);
    }
    return out;
  }
}
