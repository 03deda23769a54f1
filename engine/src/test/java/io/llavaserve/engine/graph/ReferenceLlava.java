package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import java.util.ArrayList;
import java.util.List;

/**
 * An independent plain-Java LLaVA forward pass: straight loops over float arrays, written from the
 * Hugging Face modeling code (CLIPVisionModel, SiglipVisionModel, LlavaMultiModalProjector,
 * LlamaModel), with no KV cache and no code shared with the graph. Slow, exact, and only for tests.
 */
final class ReferenceLlava {

  private final Checkpoint ckpt;
  private final LlavaConfig cfg;

  ReferenceLlava(Checkpoint ckpt) {
    this.ckpt = ckpt;
    this.cfg = ckpt.config();
  }

  private float[] w(String name) throws CheckpointException {
    return ckpt.tensor(name).toFloatArray();
  }

  /** A bias the checkpoint may or may not hold (Qwen2's q, k and v; LLaMA's attention_bias). */
  private float[] bias(String name) throws CheckpointException {
    return ckpt.has(name) ? w(name) : null;
  }

  /**
   * Projected features of one image: pixels CHW -> [image_seq_length * text_hidden]. CLIP's
   * embeddings (CLIPVisionEmbeddings, pre_layrnorm) or SigLIP's (SiglipVisionEmbeddings: a biased
   * valid convolution, positions, no class token, no norm), then the shared encoder layers.
   */
  float[] imageFeatures(float[] pixels) throws CheckpointException {
    VisionConfig v = cfg.vision();
    boolean clip = v.family() == VisionFamily.CLIP;
    int d = v.hiddenSize();
    int p = v.patchSize();
    int grid = v.patchesPerSide();
    int c = v.numChannels();
    int side = v.imageSize();
    int first = clip ? 1 : 0; // token of the first patch
    int n = grid * grid + first;
    String pre = "vision_tower.vision_model.";
    float[] conv = w(pre + "embeddings.patch_embedding.weight"); // [d, c, p, p]
    float[] convBias = clip ? null : w(pre + "embeddings.patch_embedding.bias");
    float[] pos = w(pre + "embeddings.position_embedding.weight");
    float[][] x = new float[n][d];
    if (clip) {
      float[] cls = w(pre + "embeddings.class_embedding");
      for (int o = 0; o < d; o++) {
        x[0][o] = cls[o] + pos[o];
      }
    }
    for (int gy = 0; gy < grid; gy++) {
      for (int gx = 0; gx < grid; gx++) {
        int tok = first + gy * grid + gx;
        for (int o = 0; o < d; o++) {
          double s = convBias == null ? 0 : convBias[o];
          for (int ch = 0; ch < c; ch++) {
            for (int ky = 0; ky < p; ky++) {
              for (int kx = 0; kx < p; kx++) {
                float px = pixels[(ch * side + gy * p + ky) * side + gx * p + kx];
                s += px * conv[((o * c + ch) * p + ky) * p + kx];
              }
            }
          }
          x[tok][o] = (float) s + pos[tok * d + o];
        }
      }
    }
    if (clip) {
      x =
          layerNorm(
              x, w(pre + "pre_layrnorm.weight"), w(pre + "pre_layrnorm.bias"), v.layerNormEps());
    }
    for (int i = 0; i < cfg.visionLayersUsed(); i++) {
      String l = pre + "encoder.layers." + i + ".";
      float[][] h =
          layerNorm(x, w(l + "layer_norm1.weight"), w(l + "layer_norm1.bias"), v.layerNormEps());
      float[][] q = linear(h, w(l + "self_attn.q_proj.weight"), w(l + "self_attn.q_proj.bias"), d);
      float[][] k = linear(h, w(l + "self_attn.k_proj.weight"), w(l + "self_attn.k_proj.bias"), d);
      float[][] vv = linear(h, w(l + "self_attn.v_proj.weight"), w(l + "self_attn.v_proj.bias"), d);
      float[][] att =
          attention(q, k, vv, v.numAttentionHeads(), v.numAttentionHeads(), v.headDim(), false);
      float[][] o =
          linear(att, w(l + "self_attn.out_proj.weight"), w(l + "self_attn.out_proj.bias"), d);
      addInPlace(x, o);
      h = layerNorm(x, w(l + "layer_norm2.weight"), w(l + "layer_norm2.bias"), v.layerNormEps());
      float[][] f = linear(h, w(l + "mlp.fc1.weight"), w(l + "mlp.fc1.bias"), v.intermediateSize());
      act(v.hiddenAct(), f);
      addInPlace(x, linear(f, w(l + "mlp.fc2.weight"), w(l + "mlp.fc2.bias"), d));
    }
    int dropped = cfg.dropsClsToken() ? 1 : 0;
    float[][] sel = new float[n - dropped][];
    for (int i = dropped; i < n; i++) {
      sel[i - dropped] = x[i];
    }
    int th = cfg.text().hiddenSize();
    float[][] y =
        linear(
            sel,
            w("multi_modal_projector.linear_1.weight"),
            bias("multi_modal_projector.linear_1.bias"),
            th);
    if (cfg.projector() == ProjectorKind.MLP2X_GELU) {
      act(cfg.projectorHiddenAct(), y);
      y =
          linear(
              y,
              w("multi_modal_projector.linear_2.weight"),
              bias("multi_modal_projector.linear_2.bias"),
              th);
    }
    float[] out = new float[y.length * th];
    for (int i = 0; i < y.length; i++) {
      System.arraycopy(y[i], 0, out, i * th, th);
    }
    return out;
  }

  /**
   * Logits at every position of the expanded sequence. {@code ids} holds one image token per image;
   * each is replaced by that image's feature rows, in order.
   */
  float[][] logits(int[] ids, List<float[]> images) throws CheckpointException {
    List<float[]> rows = new ArrayList<>();
    for (float[] pixels : images) {
      rows.add(imageFeatures(pixels));
    }
    return logitsOfFeatures(ids, rows);
  }

  /**
   * Logits at every position of the expanded sequence, image {@code i}'s token replaced by its
   * given feature rows ({@code [rows * text_hidden]}, as many rows as the array holds).
   */
  float[][] logitsOfFeatures(int[] ids, List<float[]> imageRows) throws CheckpointException {
    TextConfig t = cfg.text();
    int d = t.hiddenSize();
    float[] embed = w("language_model.model.embed_tokens.weight");
    List<float[]> xs = new ArrayList<>();
    int img = 0;
    for (int id : ids) {
      if (id == cfg.imageTokenIndex()) {
        float[] f = imageRows.get(img++);
        for (int r = 0; r < f.length / d; r++) {
          float[] row = new float[d];
          System.arraycopy(f, r * d, row, 0, d);
          xs.add(row);
        }
      } else {
        float[] row = new float[d];
        System.arraycopy(embed, id * d, row, 0, d);
        xs.add(row);
      }
    }
    float[][] x = xs.toArray(new float[0][]);
    String pre = "language_model.model.";
    int hd = t.headDim();
    for (int i = 0; i < t.numHiddenLayers(); i++) {
      String l = pre + "layers." + i + ".";
      float[][] h = rmsNorm(x, w(l + "input_layernorm.weight"), t.rmsNormEps());
      float[][] q =
          linear(
              h,
              w(l + "self_attn.q_proj.weight"),
              bias(l + "self_attn.q_proj.bias"),
              t.numAttentionHeads() * hd);
      float[][] k =
          linear(
              h,
              w(l + "self_attn.k_proj.weight"),
              bias(l + "self_attn.k_proj.bias"),
              t.numKeyValueHeads() * hd);
      float[][] v =
          linear(
              h,
              w(l + "self_attn.v_proj.weight"),
              bias(l + "self_attn.v_proj.bias"),
              t.numKeyValueHeads() * hd);
      rotary(q, t.numAttentionHeads(), hd, t.ropeTheta());
      rotary(k, t.numKeyValueHeads(), hd, t.ropeTheta());
      float[][] att = attention(q, k, v, t.numAttentionHeads(), t.numKeyValueHeads(), hd, true);
      addInPlace(
          x, linear(att, w(l + "self_attn.o_proj.weight"), bias(l + "self_attn.o_proj.bias"), d));
      h = rmsNorm(x, w(l + "post_attention_layernorm.weight"), t.rmsNormEps());
      float[][] gate = linear(h, w(l + "mlp.gate_proj.weight"), null, t.intermediateSize());
      float[][] up = linear(h, w(l + "mlp.up_proj.weight"), null, t.intermediateSize());
      act(t.hiddenAct(), gate);
      for (int r = 0; r < gate.length; r++) {
        for (int j = 0; j < gate[r].length; j++) {
          gate[r][j] *= up[r][j];
        }
      }
      addInPlace(x, linear(gate, w(l + "mlp.down_proj.weight"), null, d));
    }
    x = rmsNorm(x, w(pre + "norm.weight"), t.rmsNormEps());
    float[] head = t.tieWordEmbeddings() ? embed : w("language_model.lm_head.weight");
    return linear(x, head, null, t.vocabSize());
  }

  private static float[][] linear(float[][] x, float[] w, float[] b, int out) {
    int in = x[0].length;
    float[][] y = new float[x.length][out];
    for (int r = 0; r < x.length; r++) {
      for (int o = 0; o < out; o++) {
        double s = b == null ? 0 : b[o];
        for (int i = 0; i < in; i++) {
          s += (double) x[r][i] * w[o * in + i];
        }
        y[r][o] = (float) s;
      }
    }
    return y;
  }

  private static float[][] layerNorm(float[][] x, float[] w, float[] b, double eps) {
    float[][] y = new float[x.length][];
    for (int r = 0; r < x.length; r++) {
      int n = x[r].length;
      double mean = 0;
      for (float v : x[r]) {
        mean += v;
      }
      mean /= n;
      double var = 0;
      for (float v : x[r]) {
        var += (v - mean) * (v - mean);
      }
      var /= n;
      double inv = 1 / Math.sqrt(var + eps);
      y[r] = new float[n];
      for (int i = 0; i < n; i++) {
        y[r][i] = (float) ((x[r][i] - mean) * inv * w[i] + b[i]);
      }
    }
    return y;
  }

  private static float[][] rmsNorm(float[][] x, float[] w, double eps) {
    float[][] y = new float[x.length][];
    for (int r = 0; r < x.length; r++) {
      int n = x[r].length;
      double ms = 0;
      for (float v : x[r]) {
        ms += (double) v * v;
      }
      double inv = 1 / Math.sqrt(ms / n + eps);
      y[r] = new float[n];
      for (int i = 0; i < n; i++) {
        y[r][i] = (float) (w[i] * (x[r][i] * inv));
      }
    }
    return y;
  }

  /** Rotate-half rotary embedding at positions 0..rows-1, in place. */
  private static void rotary(float[][] x, int heads, int hd, double theta) {
    int half = hd / 2;
    for (int pos = 0; pos < x.length; pos++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < half; i++) {
          float invFreq = (float) (1.0 / Math.pow(theta, (2.0 * i) / hd));
          double angle = (float) pos * invFreq;
          double c = Math.cos(angle);
          double s = Math.sin(angle);
          int a = h * hd + i;
          int b = a + half;
          double x1 = x[pos][a];
          double x2 = x[pos][b];
          x[pos][a] = (float) (x1 * c - x2 * s);
          x[pos][b] = (float) (x2 * c + x1 * s);
        }
      }
    }
  }

  private static float[][] attention(
      float[][] q, float[][] k, float[][] v, int heads, int kvHeads, int hd, boolean causal) {
    int n = q.length;
    int group = heads / kvHeads;
    float[][] out = new float[n][heads * hd];
    double scale = 1 / Math.sqrt(hd);
    for (int h = 0; h < heads; h++) {
      int kh = h / group;
      for (int i = 0; i < n; i++) {
        int keys = causal ? i + 1 : n;
        double[] s = new double[keys];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < keys; j++) {
          double dot = 0;
          for (int e = 0; e < hd; e++) {
            dot += (double) q[i][h * hd + e] * k[j][kh * hd + e];
          }
          s[j] = dot * scale;
          max = Math.max(max, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < keys; j++) {
          s[j] = Math.exp(s[j] - max);
          sum += s[j];
        }
        for (int e = 0; e < hd; e++) {
          double acc = 0;
          for (int j = 0; j < keys; j++) {
            acc += s[j] * v[j][kh * hd + e];
          }
          out[i][h * hd + e] = (float) (acc / sum);
        }
      }
    }
    return out;
  }

  private static void act(String name, float[][] x) {
    for (float[] row : x) {
      for (int i = 0; i < row.length; i++) {
        double v = row[i];
        switch (name) {
          case "silu" -> row[i] = (float) (v / (1 + Math.exp(-v)));
          case "quick_gelu" -> row[i] = (float) (v / (1 + Math.exp(-1.702 * v)));
          case "gelu" -> row[i] = (float) (0.5 * v * (1 + erf(v / Math.sqrt(2))));
          case "gelu_pytorch_tanh", "gelu_new" ->
              row[i] =
                  (float)
                      (0.5
                          * v
                          * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
          default -> throw new IllegalArgumentException(name);
        }
      }
    }
  }

  /** erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit). */
  static double erf(double x) {
    double z = Math.abs(x);
    double t = 1 / (1 + 0.5 * z);
    double r =
        t
            * Math.exp(
                -z * z
                    - 1.26551223
                    + t
                        * (1.00002368
                            + t
                                * (0.37409196
                                    + t
                                        * (0.09678418
                                            + t
                                                * (-0.18628806
                                                    + t
                                                        * (0.27886807
                                                            + t
                                                                * (-1.13520398
                                                                    + t
                                                                        * (1.48851587
                                                                            + t
                                                                                * (-0.82215223
                                                                                    + t
                                                                                        * 0.17087277)))))))));
    return x >= 0 ? 1 - r : r - 1;
  }

  private static void addInPlace(float[][] x, float[][] y) {
    for (int r = 0; r < x.length; r++) {
      for (int i = 0; i < x[r].length; i++) {
        x[r][i] += y[r][i];
      }
    }
  }
}
