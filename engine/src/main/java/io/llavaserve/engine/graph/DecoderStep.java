package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.config.TextConfig;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * One decoder step over the paged KV cache for a batch of sequences, as a graph.
 *
 * <p>The step's new tokens arrive flattened, {@code [T]}, ordered so that the sequences with a
 * single new token (decoding) come first, one token each, followed by the tokens of the sequences
 * with several (prefill chunks). The matmuls run over all T rows at once. Attention runs in two
 * groups so that no padding is multiplied across groups: decode sequences attend with one query
 * each over their own blocks; prefill chunks are padded to the longest chunk of the step and attend
 * causally over their blocks.
 *
 * <p>The graph is built once per {@link Mode}: a step with only decode tokens (the common case once
 * requests are running) runs no prefill ops at all, and the other way round. All modes share the
 * same weight and KV variables.
 */
final class DecoderStep {

  /** Which attention groups a step holds. */
  enum Mode {
    DECODE(true, false),
    PREFILL(false, true),
    MIXED(true, true);

    final boolean decode;
    final boolean prefill;

    Mode(boolean decode, boolean prefill) {
      this.decode = decode;
      this.prefill = prefill;
    }

    static Mode of(int decodeSeqs, int prefillSeqs) {
      return decodeSeqs == 0 ? PREFILL : prefillSeqs == 0 ? DECODE : MIXED;
    }
  }

  final Mode mode;

  // Inputs, fed each step. Those of an absent group are null.
  final Placeholder<TInt32> inputIds; // [T]
  final Placeholder<TInt32> positions; // [T]
  final Placeholder<TInt32> slots; // [T, kv_heads, 3] (block, head, offset) of each token's K/V
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

  /** What the rows' sampling needs, computed from {@link #logits} on the device. */
  final SamplingHead sampling;

  private final GraphOps g;
  private final KvPool pool;
  private final int kvHeads;
  private final int group;
  private final int headDim;
  private final int blockSize;
  private final boolean nativeAttention;
  private final int attentionThreads;

  /**
   * @param nativeAttention whether decode attention runs in the native kernel
   * @param attentionThreads threads the native kernel may use in one call
   */
  DecoderStep(
      GraphOps g,
      DeviceWeights weights,
      KvPool pool,
      Checkpoint ckpt,
      TextConfig cfg,
      Mode mode,
      boolean nativeAttention,
      int attentionThreads) {
    this.g = g;
    this.pool = pool;
    this.mode = mode;
    this.nativeAttention = nativeAttention;
    this.attentionThreads = attentionThreads;
    this.kvHeads = cfg.numKeyValueHeads();
    this.group = cfg.groupSize();
    this.headDim = cfg.headDim();
    this.blockSize = pool.config().blockSize();
    int hidden = cfg.hiddenSize();
    int heads = cfg.numAttentionHeads();
    String pre = "language_model.model.";
    String m = mode.name().toLowerCase() + "_";

    inputIds = input(m + "input_ids", TInt32.class, -1);
    positions = input(m + "positions", TInt32.class, -1);
    slots = input(m + "slots", TInt32.class, -1, kvHeads, 3);
    imageRows = input(m + "image_rows", TFloat32.class, -1, hidden);
    imagePositions = input(m + "image_positions", TInt32.class, -1, 1);
    decodeBlockTables = mode.decode ? input(m + "decode_block_tables", TInt32.class, -1, -1) : null;
    decodeContextLens = mode.decode ? input(m + "decode_context_lens", TInt32.class, -1) : null;
    prefillBlockTables =
        mode.prefill ? input(m + "prefill_block_tables", TInt32.class, -1, -1) : null;
    prefillTokenIndex =
        mode.prefill ? input(m + "prefill_token_index", TInt32.class, -1, -1) : null;
    prefillQueryPositions =
        mode.prefill ? input(m + "prefill_query_positions", TInt32.class, -1, -1) : null;
    prefillGatherIndex = mode.prefill ? input(m + "prefill_gather_index", TInt32.class, -1) : null;
    logitsIndex = input(m + "logits_index", TInt32.class, -1);

    Operand<TInt32> t = g.dim(inputIds, 0);

    // Embeddings, with image features in place of the image tokens: [T, hidden]
    Operand<TFloat32> embed = weights.of(ckpt.tensor(pre + "embed_tokens.weight"));
    Operand<TFloat32> x = g.gatherRows(embed, inputIds);
    x = g.tf.tensorScatterNdUpdate(x, imagePositions, imageRows);

    // Rotary tables for the step's positions, [T, 1, head_dim]: cos over both halves, and sin
    // signed so that rope(x) = x * cos + swap_halves(x) * sin (Hugging Face's rotate_half).
    float[] invFreq = new float[headDim];
    float[] sign = new float[headDim];
    int[] swap = new int[headDim];
    for (int i = 0; i < headDim; i++) {
      int k = i % (headDim / 2);
      invFreq[i] = (float) (1.0 / Math.pow(cfg.ropeTheta(), (2.0 * k) / headDim));
      sign[i] = i < headDim / 2 ? -1f : 1f;
      swap[i] = (i + headDim / 2) % headDim;
    }
    Operand<TFloat32> angles =
        g.mul(
            g.reshape(g.tf.dtypes.cast(positions, TFloat32.class), t, 1, 1),
            g.reshape(g.tf.constant(invFreq), 1, 1, headDim));
    Operand<TFloat32> cos = g.tf.math.cos(angles);
    Operand<TFloat32> sin = g.mul(g.tf.math.sin(angles), g.tf.constant(sign));
    Operand<TInt32> swapIndex = g.tf.constant(swap);
    Operand<TFloat32> cosRows = g.reshape(cos, t, headDim); // the native op's layout, [T, hd]
    Operand<TFloat32> sinRows = g.reshape(sin, t, headDim);

    Masks masks = new Masks();
    float scale = (float) (1.0 / Math.sqrt(headDim));
    int qWidth = heads * headDim;
    // The MLP's output not yet added to x: each residual add goes into the norm that follows it.
    Operand<TFloat32> mlpOut = null;
    for (int i = 0; i < cfg.numHiddenLayers(); i++) {
      String l = pre + "layers." + i + ".";
      Operand<TFloat32> inputNorm = weights.of(ckpt.tensor(l + "input_layernorm.weight"));
      Operand<TFloat32> h;
      if (mlpOut == null) {
        h = g.rmsNorm(x, inputNorm, cfg.rmsNormEps());
      } else {
        GraphOps.AddNorm added = g.addRmsNorm(x, mlpOut, inputNorm, cfg.rmsNormEps());
        x = added.sum();
        h = added.normed();
      }
      Linear qkvW = weights.decoderQkv(ckpt, l + "self_attn.");
      Operand<TFloat32> qkvB = cfg.qkvBias() ? weights.qkvBias(ckpt, l + "self_attn.") : null;
      Operand<TFloat32> qh; // [T, heads, hd], rotated and scaled
      List<Op> written;
      if (nativeAttention) {
        Operation rope =
            pool.ropeWrite(
                i,
                projected(h, qkvW, qkvB),
                cosRows,
                sinRows,
                slots,
                heads,
                scale,
                attentionThreads);
        qh = rope.output(0);
        written = List.of(() -> rope);
      } else {
        // [T, heads + 2 kv, hd]: rotate queries and keys together, leave values as they are.
        Operand<TFloat32> qkv =
            g.reshape(projected(h, qkvW, qkvB), t, heads + 2 * kvHeads, headDim);
        List<Operand<TFloat32>> qkAndV = splitAxis1(qkv, heads + kvHeads, kvHeads);
        Operand<TFloat32> qk = qkAndV.get(0);
        qk = g.add(g.mul(qk, cos), g.mul(g.tf.gather(qk, swapIndex, g.i32(2)), sin));
        List<Operand<TFloat32>> qAndK = splitAxis1(qk, heads, kvHeads);
        qh = g.scale(qAndK.get(0), scale);
        written = pool.write(i, slots, qAndK.get(1), qkAndV.get(1));
      }

      List<Operand<TFloat32>> outs = new ArrayList<>(2);
      if (mode.decode) {
        outs.add(decodeAttention(i, qh, written, masks, qWidth));
      }
      if (mode.prefill) {
        outs.add(prefillAttention(i, qh, written, masks, qWidth));
      }
      Operand<TFloat32> attn = outs.size() == 1 ? outs.get(0) : g.concat(0, outs); // [T, heads*hd]
      Linear oW = weights.decoderLinear(ckpt.tensor(l + "self_attn.o_proj.weight"));
      Operand<TFloat32> attnOut =
          projected(
              attn,
              oW,
              cfg.outputBias() ? weights.of(ckpt.tensor(l + "self_attn.o_proj.bias")) : null);
      GraphOps.AddNorm added =
          g.addRmsNorm(
              x,
              attnOut,
              weights.of(ckpt.tensor(l + "post_attention_layernorm.weight")),
              cfg.rmsNormEps());
      x = added.sum();
      h = added.normed();
      Linear gateUpW =
          weights.decoderLinear(
              l + "mlp.gate_up_proj.weight",
              List.of(
                  ckpt.tensor(l + "mlp.gate_proj.weight"), ckpt.tensor(l + "mlp.up_proj.weight")));
      int inter = cfg.intermediateSize();
      Operand<TFloat32> act = g.gatedActivation(cfg.hiddenAct(), g.linear(h, gateUpW), inter);
      mlpOut = g.linear(act, weights.decoderLinear(ckpt.tensor(l + "mlp.down_proj.weight")));
    }

    // The last residual add, on the rows whose logits are taken only.
    Operand<TFloat32> finalNorm = weights.of(ckpt.tensor(pre + "norm.weight"));
    Operand<TFloat32> last =
        mlpOut == null
            ? g.rmsNorm(g.gatherRows(x, logitsIndex), finalNorm, cfg.rmsNormEps())
            : g.addRmsNorm(
                    g.gatherRows(x, logitsIndex),
                    g.gatherRows(mlpOut, logitsIndex),
                    finalNorm,
                    cfg.rmsNormEps())
                .normed();
    // A tied head reuses the embedding in its [vocab, hidden] layout rather than keep a copy, so it
    // stays float32 when the Linear weights are quantized; a head of its own is one of them.
    logits =
        cfg.tieWordEmbeddings()
            ? g.linearTransposed(last, embed)
            : g.linear(last, weights.decoderLinear(ckpt.tensor("language_model.lm_head.weight")));
    sampling = new SamplingHead(g, logits, cfg.vocabSize(), m);
  }

  /** {@code x @ w}, plus {@code b} when the projection has a bias. */
  private Operand<TFloat32> projected(Operand<TFloat32> x, Linear w, Operand<TFloat32> b) {
    return b == null ? g.linear(x, w) : g.linear(x, w, b);
  }

  /** Additive masks and sizes, computed once per step and shared by all layers. */
  private final class Masks {
    Operand<TInt32> sd;
    Operand<TInt32> bd;
    Operand<TInt32> decodeKeys;
    Operand<TInt32> decodeIndex;
    Operand<TFloat32> decodeBias; // [Sd, 1, 1, Ld]: key l is visible when l < context_len
    Operand<TInt32> sp;
    Operand<TInt32> q;
    Operand<TInt32> prefillKeys;
    Operand<TFloat32> prefillBias; // [Sp, 1, Q, 1, Lp]: key l is visible at position p if l <= p
    Operand<TInt32> prefillFirstRows; // [Sp]: the row of each chunk's first token

    Masks() {
      if (mode.decode) {
        sd = g.dim(decodeBlockTables, 0);
        bd = g.dim(decodeBlockTables, 1);
        decodeKeys = g.mulDims(bd, g.i32(blockSize));
        if (!nativeAttention) { // the native kernel reads context_lens and qh's rows itself
          decodeIndex = g.tf.range(g.i32(0), sd, g.i32(1));
          Operand<TInt32> keyPos = g.tf.range(g.i32(0), decodeKeys, g.i32(1));
          Operand<TBool> allowed =
              g.tf.math.less(g.reshape(keyPos, 1, decodeKeys), g.reshape(decodeContextLens, sd, 1));
          decodeBias = g.reshape(g.maskBias(allowed), sd, 1, 1, decodeKeys);
        }
      }
      if (mode.prefill) {
        sp = g.dim(prefillTokenIndex, 0);
        q = g.dim(prefillTokenIndex, 1);
        if (nativeAttention) {
          // The native kernel reads the query positions itself, and each chunk's queries from the
          // row of its first token on.
          prefillFirstRows =
              g.reshape(
                  g.tf.slice(
                      prefillTokenIndex,
                      g.tf.constant(new int[] {0, 0}),
                      g.tf.constant(new int[] {-1, 1})),
                  -1);
        } else {
          prefillKeys = g.mulDims(g.dim(prefillBlockTables, 1), g.i32(blockSize));
          Operand<TInt32> keyPos = g.tf.range(g.i32(0), prefillKeys, g.i32(1));
          Operand<TBool> allowed =
              g.tf.math.lessEqual(
                  g.reshape(keyPos, 1, 1, prefillKeys), g.reshape(prefillQueryPositions, sp, q, 1));
          prefillBias = g.reshape(g.maskBias(allowed), sp, 1, q, 1, prefillKeys);
        }
      }
    }
  }

  /**
   * Decode group, one query per sequence. The gathered blocks [Sd, Bd, kv, bs, hd] are used as they
   * lie: the query broadcasts over the block axis, so only the small score tensor is ever
   * transposed. Returns [Sd, heads*hd].
   */
  private Operand<TFloat32> decodeAttention(
      int layer, Operand<TFloat32> qh, List<Op> written, Masks mk, int qWidth) {
    if (nativeAttention) { // the kernel reads the decode rows, qh's first Sd, where they lie
      return g.reshape(
          pool.attend(layer, qh, decodeBlockTables, decodeContextLens, written, attentionThreads),
          -1,
          qWidth);
    }
    List<Operand<TFloat32>> kv = pool.read(layer, decodeBlockTables, written);
    Operand<TFloat32> q =
        g.reshape(g.gatherRows(qh, mk.decodeIndex), mk.sd, 1, kvHeads, group, headDim);
    // [Sd, 1, kv, group, hd] x [Sd, Bd, kv, bs, hd]^T -> [Sd, Bd, kv, group, bs]
    Operand<TFloat32> scores = g.bmm(q, kv.get(0), true);
    Operand<TFloat32> flat =
        g.reshape(g.transpose(scores, 0, 2, 3, 1, 4), mk.sd, kvHeads, group, mk.decodeKeys);
    Operand<TFloat32> probs =
        g.transpose(
            g.reshape(
                g.softmax(g.add(flat, mk.decodeBias)), mk.sd, kvHeads, group, mk.bd, blockSize),
            0,
            3,
            1,
            2,
            4); // [Sd, Bd, kv, group, bs]
    // [Sd, Bd, kv, group, bs] x [Sd, Bd, kv, bs, hd] -> [Sd, Bd, kv, group, hd], summed over Bd
    return g.reshape(g.tf.sum(g.bmm(probs, kv.get(1), false), g.i32(1)), mk.sd, qWidth);
  }

  /**
   * Prefill group: queries padded to [Sp, Q], keys over each sequence's blocks, causal. Returns
   * [Tp, heads*hd] in token order.
   */
  private Operand<TFloat32> prefillAttention(
      int layer, Operand<TFloat32> qh, List<Op> written, Masks mk, int qWidth) {
    if (nativeAttention) {
      // The kernel reads each chunk's queries where its tokens lie and writes their results in
      // token order after the decode rows: no gather either way.
      return pool.attendPrefill(
          layer,
          qh,
          prefillBlockTables,
          prefillQueryPositions,
          mk.prefillFirstRows,
          written,
          attentionThreads,
          -1);
    }
    List<Operand<TFloat32>> kv = pool.read(layer, prefillBlockTables, written);
    Operand<TInt32> qg = g.mulDims(mk.q, g.i32(group));
    // [Sp, Q, kv, group, hd] -> [Sp, kv, Q*group, hd]
    Operand<TFloat32> q =
        g.reshape(
            g.transpose(
                g.reshape(
                    g.gatherRows(qh, prefillTokenIndex), mk.sp, mk.q, kvHeads, group, headDim),
                0,
                2,
                1,
                3,
                4),
            mk.sp,
            kvHeads,
            qg,
            headDim);
    // [Sp, Bp, kv, bs, hd] -> [Sp, kv, Lp, hd]
    Operand<TFloat32> k =
        g.reshape(g.transpose(kv.get(0), 0, 2, 1, 3, 4), mk.sp, kvHeads, mk.prefillKeys, headDim);
    Operand<TFloat32> v =
        g.reshape(g.transpose(kv.get(1), 0, 2, 1, 3, 4), mk.sp, kvHeads, mk.prefillKeys, headDim);
    Operand<TFloat32> scores =
        g.add(
            g.reshape(g.bmm(q, k, true), mk.sp, kvHeads, mk.q, group, mk.prefillKeys),
            mk.prefillBias);
    Operand<TFloat32> probs = g.reshape(g.softmax(scores), mk.sp, kvHeads, qg, mk.prefillKeys);
    // [Sp, kv, Q*group, hd] -> [Sp, Q, kv, group, hd] -> [Sp*Q, heads*hd] -> rows of real tokens
    Operand<TFloat32> out =
        g.reshape(
            g.transpose(
                g.reshape(g.bmm(probs, v, false), mk.sp, kvHeads, mk.q, group, headDim),
                0,
                2,
                1,
                3,
                4),
            g.mulDims(mk.sp, mk.q),
            qWidth);
    return g.gatherRows(out, prefillGatherIndex);
  }

  /** Splits axis 1 of a 3-d tensor into two parts of the given sizes. */
  private List<Operand<TFloat32>> splitAxis1(Operand<TFloat32> x, int first, int second) {
    return new ArrayList<>(
        g.tf.splitV(x, g.tf.constant(new int[] {first, second}), g.i32(1), 2L).output());
  }

  private <T extends org.tensorflow.types.family.TType> Placeholder<T> input(
      String name, Class<T> type, long... shape) {
    return g.tf.withName(name).placeholder(type, Placeholder.shape(Shape.of(shape)));
  }
}
