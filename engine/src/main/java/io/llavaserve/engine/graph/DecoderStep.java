package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.config.TextConfig;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * One decoder step over the paged KV cache for a mixed batch, as a graph.
 *
 * <p>The step's new tokens arrive flattened, {@code [T]}, ordered so that the sequences with a
 * single new token (decoding) come first, one token each, followed by the tokens of the
 * sequences with several (prefill chunks). The matmuls run over all T rows at once. Attention
 * runs in two groups so that no padding is multiplied across groups: decode sequences attend
 * with one query each over their own blocks; prefill chunks are padded to the longest chunk of
 * the step and attend causally over their blocks.
 */
final class DecoderStep {

  // Inputs, fed each step.
  final Placeholder<TInt32> inputIds; // [T]
  final Placeholder<TInt32> positions; // [T]
  final Placeholder<TInt32> slots; // [T, 2] (block, offset) where each token's K/V goes
  final Placeholder<TFloat32> imageRows; // [R, hidden] projected image features
  final Placeholder<TInt32> imagePositions; // [R, 1] indices into T
  final Placeholder<TInt32> decodeBlockTables; // [Sd, Bd]
  final Placeholder<TInt32> decodeContextLens; // [Sd]
  final Placeholder<TInt32> prefillBlockTables; // [Sp, Bp]
  final Placeholder<TInt32> prefillTokenIndex; // [Sp, Q] indices into T (padding: any valid index)
  final Placeholder<TInt32> prefillQueryPositions; // [Sp, Q] (padding: -1)
  final Placeholder<TInt32> prefillGatherIndex; // [Tp] indices into Sp*Q
  final Placeholder<TInt32> logitsIndex; // [S'] indices into T

  /** Logits of the rows named by {@link #logitsIndex}, [S', vocab]. */
  final Operand<TFloat32> logits;

  DecoderStep(GraphOps g, DeviceWeights weights, KvPool pool, Checkpoint ckpt, TextConfig cfg)
      throws CheckpointException {
    int hidden = cfg.hiddenSize();
    int heads = cfg.numAttentionHeads();
    int kvHeads = cfg.numKeyValueHeads();
    int headDim = cfg.headDim();
    int group = cfg.groupSize();
    int blockSize = pool.config().blockSize();
    String pre = "language_model.model.";

    inputIds = input(g, "input_ids", TInt32.class, -1);
    positions = input(g, "positions", TInt32.class, -1);
    slots = input(g, "slots", TInt32.class, -1, 2);
    imageRows = input(g, "image_rows", TFloat32.class, -1, hidden);
    imagePositions = input(g, "image_positions", TInt32.class, -1, 1);
    decodeBlockTables = input(g, "decode_block_tables", TInt32.class, -1, -1);
    decodeContextLens = input(g, "decode_context_lens", TInt32.class, -1);
    prefillBlockTables = input(g, "prefill_block_tables", TInt32.class, -1, -1);
    prefillTokenIndex = input(g, "prefill_token_index", TInt32.class, -1, -1);
    prefillQueryPositions = input(g, "prefill_query_positions", TInt32.class, -1, -1);
    prefillGatherIndex = input(g, "prefill_gather_index", TInt32.class, -1);
    logitsIndex = input(g, "logits_index", TInt32.class, -1);

    Operand<TInt32> t = g.dim(inputIds, 0);
    Operand<TInt32> sd = g.dim(decodeBlockTables, 0);
    Operand<TInt32> decodeKeys = g.mulDims(g.dim(decodeBlockTables, 1), g.i32(blockSize));
    Operand<TInt32> sp = g.dim(prefillTokenIndex, 0);
    Operand<TInt32> q = g.dim(prefillTokenIndex, 1);
    Operand<TInt32> prefillKeys = g.mulDims(g.dim(prefillBlockTables, 1), g.i32(blockSize));

    // Embeddings, with image features in place of the image tokens: [T, hidden]
    Operand<TFloat32> embed = weights.of(ckpt.tensor(pre + "embed_tokens.weight"));
    Operand<TFloat32> x = g.gatherRows(embed, inputIds);
    x = g.tf.tensorScatterNdUpdate(x, imagePositions, imageRows);

    // Rotary tables for the step's positions: [T, 1, head_dim/2]
    float[] invFreq = new float[headDim / 2];
    for (int i = 0; i < invFreq.length; i++) {
      invFreq[i] = (float) (1.0 / Math.pow(cfg.ropeTheta(), (2.0 * i) / headDim));
    }
    Operand<TFloat32> angles =
        g.mul(
            g.reshape(g.tf.dtypes.cast(positions, TFloat32.class), t, 1, 1),
            g.reshape(g.tf.constant(invFreq), 1, 1, headDim / 2));
    Operand<TFloat32> cos = g.tf.math.cos(angles);
    Operand<TFloat32> sin = g.tf.math.sin(angles);

    // Masks, shared by all layers.
    // decode: key l is visible when l < context_len; [Sd, 1, 1, Ld]
    Operand<TInt32> decodeKeyPos = g.tf.range(g.i32(0), decodeKeys, g.i32(1));
    Operand<TBool> decodeAllowed =
        g.tf.math.less(g.reshape(decodeKeyPos, 1, decodeKeys), g.reshape(decodeContextLens, sd, 1));
    Operand<TFloat32> decodeBias = g.reshape(g.maskBias(decodeAllowed), sd, 1, 1, decodeKeys);
    // prefill: key l is visible to the query at position p when l <= p; [Sp, 1, Q, 1, Lp]
    Operand<TInt32> prefillKeyPos = g.tf.range(g.i32(0), prefillKeys, g.i32(1));
    Operand<TBool> prefillAllowed =
        g.tf.math.lessEqual(
            g.reshape(prefillKeyPos, 1, 1, prefillKeys), g.reshape(prefillQueryPositions, sp, q, 1));
    Operand<TFloat32> prefillBias =
        g.reshape(g.maskBias(prefillAllowed), sp, 1, q, 1, prefillKeys);
    Operand<TInt32> decodeIndex = g.tf.range(g.i32(0), sd, g.i32(1));

    float scale = (float) (1.0 / Math.sqrt(headDim));
    int qWidth = heads * headDim;
    int kvWidth = kvHeads * headDim;
    for (int i = 0; i < cfg.numHiddenLayers(); i++) {
      String l = pre + "layers." + i + ".";
      Operand<TFloat32> h =
          g.rmsNorm(x, weights.of(ckpt.tensor(l + "input_layernorm.weight")), cfg.rmsNormEps());
      Operand<TFloat32> qkvW =
          weights.stacked(
              l + "self_attn.qkv_proj.weight",
              List.of(
                  ckpt.tensor(l + "self_attn.q_proj.weight"),
                  ckpt.tensor(l + "self_attn.k_proj.weight"),
                  ckpt.tensor(l + "self_attn.v_proj.weight")));
      List<Operand<TFloat32>> qkv = g.splitLast(g.linear(h, qkvW), 2, qWidth, kvWidth, kvWidth);
      Operand<TFloat32> qh = rope(g, g.reshape(qkv.get(0), t, heads, headDim), cos, sin, headDim);
      Operand<TFloat32> kh = rope(g, g.reshape(qkv.get(1), t, kvHeads, headDim), cos, sin, headDim);
      Operand<TFloat32> vh = g.reshape(qkv.get(2), t, kvHeads, headDim);
      qh = g.scale(qh, scale);

      List<Op> written = pool.write(i, slots, kh, vh);

      // Decode group: [Sd, kv, group, hd] x [Sd, kv, Ld, hd]^T -> [Sd, kv, group, Ld]
      List<Operand<TFloat32>> dkv = pool.read(i, decodeBlockTables, written);
      Operand<TFloat32> dq = g.reshape(g.gatherRows(qh, decodeIndex), sd, kvHeads, group, headDim);
      Operand<TFloat32> dk = g.transpose(g.reshape(dkv.get(0), sd, decodeKeys, kvHeads, headDim), 0, 2, 1, 3);
      Operand<TFloat32> dv = g.transpose(g.reshape(dkv.get(1), sd, decodeKeys, kvHeads, headDim), 0, 2, 1, 3);
      Operand<TFloat32> dp = g.softmax(g.add(g.bmm(dq, dk, true), decodeBias));
      Operand<TFloat32> decodeOut = g.reshape(g.bmm(dp, dv, false), sd, qWidth);

      // Prefill group: queries padded to [Sp, Q]; [Sp, kv, Q*group, hd] x [Sp, kv, Lp, hd]^T
      List<Operand<TFloat32>> pkv = pool.read(i, prefillBlockTables, written);
      Operand<TFloat32> pq =
          g.reshape(
              g.transpose(
                  g.reshape(g.gatherRows(qh, prefillTokenIndex), sp, q, kvHeads, group, headDim),
                  0, 2, 1, 3, 4),
              sp, kvHeads, g.mulDims(q, g.i32(group)), headDim);
      Operand<TFloat32> pk = g.transpose(g.reshape(pkv.get(0), sp, prefillKeys, kvHeads, headDim), 0, 2, 1, 3);
      Operand<TFloat32> pv = g.transpose(g.reshape(pkv.get(1), sp, prefillKeys, kvHeads, headDim), 0, 2, 1, 3);
      Operand<TFloat32> scores =
          g.add(g.reshape(g.bmm(pq, pk, true), sp, kvHeads, q, group, prefillKeys), prefillBias);
      Operand<TFloat32> pp =
          g.reshape(g.softmax(scores), sp, kvHeads, g.mulDims(q, g.i32(group)), prefillKeys);
      Operand<TFloat32> prefillOut =
          g.gatherRows(
              g.reshape(
                  g.transpose(g.reshape(g.bmm(pp, pv, false), sp, kvHeads, q, group, headDim), 0, 2, 1, 3, 4),
                  g.mulDims(sp, q),
                  qWidth),
              prefillGatherIndex);

      Operand<TFloat32> attn = g.concat(0, List.of(decodeOut, prefillOut)); // [T, heads*hd]
      x = g.add(x, g.linear(attn, weights.of(ckpt.tensor(l + "self_attn.o_proj.weight"))));

      h = g.rmsNorm(x, weights.of(ckpt.tensor(l + "post_attention_layernorm.weight")), cfg.rmsNormEps());
      Operand<TFloat32> gateUpW =
          weights.stacked(
              l + "mlp.gate_up_proj.weight",
              List.of(ckpt.tensor(l + "mlp.gate_proj.weight"), ckpt.tensor(l + "mlp.up_proj.weight")));
      int inter = cfg.intermediateSize();
      List<Operand<TFloat32>> gu = g.splitLast(g.linear(h, gateUpW), 2, inter, inter);
      Operand<TFloat32> act = g.mul(g.activation(cfg.hiddenAct(), gu.get(0)), gu.get(1));
      x = g.add(x, g.linear(act, weights.of(ckpt.tensor(l + "mlp.down_proj.weight"))));
    }

    Operand<TFloat32> last = g.gatherRows(x, logitsIndex);
    last = g.rmsNorm(last, weights.of(ckpt.tensor(pre + "norm.weight")), cfg.rmsNormEps());
    Operand<TFloat32> head =
        cfg.tieWordEmbeddings() ? embed : weights.of(ckpt.tensor("language_model.lm_head.weight"));
    logits = g.linear(last, head);
  }

  /**
   * Rotary embedding in Hugging Face's rotate-half form: with x = [x1, x2] split in halves,
   * out = [x1 cos - x2 sin, x2 cos + x1 sin]. x: [T, heads, hd]; cos, sin: [T, 1, hd/2].
   */
  private static Operand<TFloat32> rope(
      GraphOps g, Operand<TFloat32> x, Operand<TFloat32> cos, Operand<TFloat32> sin, int headDim) {
    List<Operand<TFloat32>> halves = g.splitLast(x, 3, headDim / 2, headDim / 2);
    Operand<TFloat32> x1 = halves.get(0);
    Operand<TFloat32> x2 = halves.get(1);
    return g.concat(
        2, List.of(g.sub(g.mul(x1, cos), g.mul(x2, sin)), g.add(g.mul(x2, cos), g.mul(x1, sin))));
  }

  private static <T extends org.tensorflow.types.family.TType> Placeholder<T> input(
      GraphOps g, String name, Class<T> type, long... shape) {
    return g.tf.withName(name).placeholder(type, Placeholder.shape(Shape.of(shape)));
  }
}
