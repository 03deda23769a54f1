package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.VisionConfig;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The three parts of LLaVA as differentiable graphs over {@link Parameters} named as in a llava-hf
 * checkpoint: the CLIP vision tower, the projector and the LLaMA decoder. Each follows the serving
 * graph's maths (and transformers'), over whole padded sequences instead of a paged cache.
 */
final class Towers {

  /** The training-time token embedding: world-vocabulary rows plus one shared "other" row. */
  static final String WORLD_EMBED = "training.world_embed_tokens";

  private Towers() {}

  /**
   * The CLIP tower's hidden states after {@code layers} encoder layers, [N, patches + 1, hidden],
   * for pixels [N, channels, size, size].
   */
  static Operand<TFloat32> vision(
      TrainOps g, Parameters p, VisionConfig v, Operand<TFloat32> pixels, int layers) {
    int c = v.numChannels();
    int ps = v.patchSize();
    int grid = v.patchesPerSide();
    int hidden = v.hiddenSize();
    int tokens = v.numPatches() + 1;
    String pre = WeightShapes.VISION;
    Operand<TInt32> n = g.dim(pixels, 0);
    Operand<TInt32> rows = g.tf.math.mul(n, g.i32(tokens));

    // [n, c, grid, p, grid, p] -> [n, grid, grid, c, p, p] -> [n * grid^2, c * p * p]
    Operand<TFloat32> patches =
        g.reshape(
            g.transpose(g.reshape(pixels, n, c, grid, ps, grid, ps), 0, 2, 4, 1, 3, 5),
            -1,
            c * ps * ps);
    Operand<TFloat32> patchW =
        g.reshape(p.get(pre + "embeddings.patch_embedding.weight"), hidden, c * ps * ps);
    Operand<TFloat32> embedded = g.reshape(g.linear(patches, patchW, null), n, grid * grid, hidden);
    Operand<TFloat32> cls =
        g.tf.tile(
            g.reshape(p.get(pre + "embeddings.class_embedding"), 1, 1, hidden),
            g.tf.stack(List.of(n, g.i32(1), g.i32(1))));
    Operand<TFloat32> x = g.concat(1, List.of(cls, embedded));
    x = g.add(x, p.get(pre + "embeddings.position_embedding.weight"));
    x = g.reshape(x, rows, hidden);
    x =
        g.layerNorm(
            x,
            p.get(pre + "pre_layrnorm.weight"),
            p.get(pre + "pre_layrnorm.bias"),
            v.layerNormEps());
    for (int i = 0; i < layers; i++) {
      x =
          encoderLayer(
              g,
              p,
              pre + "encoder.layers." + i + ".",
              x,
              n,
              tokens,
              v.numAttentionHeads(),
              v.headDim(),
              v.layerNormEps(),
              v.hiddenAct(),
              null);
    }
    return g.reshape(x, n, tokens, hidden);
  }

  /**
   * One pre-LayerNorm CLIP encoder layer (attention and MLP with biases) over rows [n * tokens,
   * hidden]; {@code bias} is an additive attention mask broadcast to [n, heads, tokens, tokens], or
   * null.
   */
  static Operand<TFloat32> encoderLayer(
      TrainOps g,
      Parameters p,
      String l,
      Operand<TFloat32> x,
      Operand<TInt32> n,
      int tokens,
      int heads,
      int headDim,
      double eps,
      String act,
      Operand<TFloat32> bias) {
    int hidden = heads * headDim;
    Operand<TInt32> rows = g.tf.math.mul(n, g.i32(tokens));
    Operand<TInt32> t = g.i32(tokens);
    Operand<TFloat32> h =
        g.layerNorm(x, p.get(l + "layer_norm1.weight"), p.get(l + "layer_norm1.bias"), eps);
    // Queries scaled before QK^T, as the serving graph does.
    Operand<TFloat32> q =
        g.scale(linear(g, p, l + "self_attn.q_proj", h), (float) (1.0 / Math.sqrt(headDim)));
    Operand<TFloat32> k = linear(g, p, l + "self_attn.k_proj", h);
    Operand<TFloat32> v = linear(g, p, l + "self_attn.v_proj", h);
    Operand<TFloat32> attn =
        g.attention(
            g.splitHeads(q, n, t, heads, headDim),
            g.splitHeads(k, n, t, heads, headDim),
            g.splitHeads(v, n, t, heads, headDim),
            bias);
    x = g.add(x, linear(g, p, l + "self_attn.out_proj", g.reshape(attn, rows, hidden)));
    h = g.layerNorm(x, p.get(l + "layer_norm2.weight"), p.get(l + "layer_norm2.bias"), eps);
    return g.add(x, linear(g, p, l + "mlp.fc2", g.activation(act, linear(g, p, l + "mlp.fc1", h))));
  }

  /**
   * Tower features as llava selects them (feature layer, CLS dropped) through the projector: [N,
   * image_seq_length, text_hidden].
   */
  static Operand<TFloat32> imageFeatures(
      TrainOps g, Parameters p, LlavaConfig config, Operand<TFloat32> pixels) {
    VisionConfig v = config.vision();
    Operand<TFloat32> states = vision(g, p, v, pixels, config.visionLayersUsed());
    int kept = config.imageSeqLength();
    if (config.dropsClsToken()) {
      states =
          g.tf.slice(
              states,
              g.tf.constant(new int[] {0, 1, 0}),
              g.tf.constant(new int[] {-1, kept, v.hiddenSize()}));
    }
    Operand<TFloat32> flat = g.reshape(states, -1, v.hiddenSize());
    String proj = WeightShapes.PROJECTOR;
    Operand<TFloat32> y = linear(g, p, proj + "linear_1", flat);
    if (config.projector() == ProjectorKind.MLP2X_GELU) {
      y = linear(g, p, proj + "linear_2", g.activation(config.projectorHiddenAct(), y));
    }
    return g.reshape(y, g.dim(pixels, 0), kept, config.text().hiddenSize());
  }

  /**
   * The LLaMA decoder over embeddings x [B, T, hidden], causal, positions 0..T-1: the final
   * RMSNorm's output, [B * T, hidden].
   */
  static Operand<TFloat32> decoder(TrainOps g, Parameters p, TextConfig cfg, Operand<TFloat32> x) {
    int hidden = cfg.hiddenSize();
    int heads = cfg.numAttentionHeads();
    int kvHeads = cfg.numKeyValueHeads();
    int hd = cfg.headDim();
    if (kvHeads != heads) {
      throw new IllegalArgumentException("training supports num_key_value_heads == heads only");
    }
    Operand<TInt32> b = g.dim(x, 0);
    Operand<TInt32> t = g.dim(x, 1);
    Operand<TInt32> rows = g.tf.math.mul(b, t);
    x = g.reshape(x, rows, hidden);

    // Rotary tables [1, 1, T, hd]: cos over both halves and sin signed, so that
    // rope(x) = x * cos + swap_halves(x) * sin (transformers' rotate_half), as the serving graph.
    float[] invFreq = new float[hd];
    float[] sign = new float[hd];
    int[] swap = new int[hd];
    for (int i = 0; i < hd; i++) {
      int k = i % (hd / 2);
      invFreq[i] = (float) (1.0 / Math.pow(cfg.ropeTheta(), (2.0 * k) / hd));
      sign[i] = i < hd / 2 ? -1f : 1f;
      swap[i] = (i + hd / 2) % hd;
    }
    Operand<TFloat32> positions =
        g.tf.dtypes.cast(g.tf.range(g.i32(0), t, g.i32(1)), TFloat32.class);
    Operand<TFloat32> angles =
        g.mul(g.reshape(positions, 1, 1, t, 1), g.reshape(g.tf.constant(invFreq), 1, 1, 1, hd));
    Operand<TFloat32> cos = g.tf.math.cos(angles);
    Operand<TFloat32> sin = g.mul(g.tf.math.sin(angles), g.tf.constant(sign));
    Operand<TInt32> swapIndex = g.tf.constant(swap);

    // Causal mask, [1, 1, T, T]: 0 on and below the diagonal, -1e30 above. Padding sits after a
    // sequence's last token, so no real position ever sees it.
    Operand<TInt32> idx = g.tf.range(g.i32(0), t, g.i32(1));
    Operand<TFloat32> allowed =
        g.tf.dtypes.cast(
            g.tf.math.greaterEqual(g.reshape(idx, t, 1), g.reshape(idx, 1, t)), TFloat32.class);
    Operand<TFloat32> causal =
        g.reshape(g.scale(g.tf.math.sub(allowed, g.f32(1f)), 1e30f), 1, 1, t, t);

    float scale = (float) (1.0 / Math.sqrt(hd));
    String pre = WeightShapes.TEXT;
    for (int i = 0; i < cfg.numHiddenLayers(); i++) {
      String l = pre + "layers." + i + ".";
      Operand<TFloat32> h = g.rmsNorm(x, p.get(l + "input_layernorm.weight"), cfg.rmsNormEps());
      Operand<TFloat32> q = g.splitHeads(linear(g, p, l + "self_attn.q_proj", h), b, t, heads, hd);
      Operand<TFloat32> k = g.splitHeads(linear(g, p, l + "self_attn.k_proj", h), b, t, heads, hd);
      Operand<TFloat32> v = g.splitHeads(linear(g, p, l + "self_attn.v_proj", h), b, t, heads, hd);
      q = g.add(g.mul(q, cos), g.mul(g.tf.gather(q, swapIndex, g.i32(3)), sin));
      k = g.add(g.mul(k, cos), g.mul(g.tf.gather(k, swapIndex, g.i32(3)), sin));
      Operand<TFloat32> attn = g.attention(g.scale(q, scale), k, v, causal); // [B, T, H, hd]
      x = g.add(x, linear(g, p, l + "self_attn.o_proj", g.reshape(attn, rows, heads * hd)));
      h = g.rmsNorm(x, p.get(l + "post_attention_layernorm.weight"), cfg.rmsNormEps());
      Operand<TFloat32> act =
          g.mul(
              g.activation(cfg.hiddenAct(), linear(g, p, l + "mlp.gate_proj", h)),
              linear(g, p, l + "mlp.up_proj", h));
      x = g.add(x, linear(g, p, l + "mlp.down_proj", act));
    }
    return g.rmsNorm(x, p.get(pre + "norm.weight"), cfg.rmsNormEps());
  }

  /** A Linear layer {@code prefix.weight} [out, in] with {@code prefix.bias} when present. */
  static Operand<TFloat32> linear(TrainOps g, Parameters p, String prefix, Operand<TFloat32> x) {
    String bias = prefix + ".bias";
    return g.linear(
        x, p.get(prefix + ".weight"), p.shapes().containsKey(bias) ? p.get(bias) : null);
  }
}
