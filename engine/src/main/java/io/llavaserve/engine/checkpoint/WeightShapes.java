package io.llavaserve.engine.checkpoint;

import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors a LLaVA forward pass reads, by canonical name, with the shape the config implies.
 * Vision layers past {@link LlavaConfig#visionLayersUsed()} and the tower's post-layernorm are left
 * out: llava never runs them, and checkpoints may omit them. So is a SigLIP tower's
 * attention-pooling {@code head}, which llava never uses; a checkpoint that holds it loads all the
 * same. A llava_next checkpoint adds {@link #IMAGE_NEWLINE}.
 */
public final class WeightShapes {

  public static final String VISION = "vision_tower.vision_model.";
  public static final String PROJECTOR = "multi_modal_projector.";
  public static final String TEXT = "language_model.model.";
  public static final String EMBED_TOKENS = TEXT + "embed_tokens.weight";
  public static final String LM_HEAD = "language_model.lm_head.weight";

  /** LLaVA-NeXT's learned row after each row of grid features, [text_hidden]. */
  public static final String IMAGE_NEWLINE = "image_newline";

  private WeightShapes() {}

  /**
   * Every tensor the model needs, in a stable order (vision, projector, text), with its shape. The
   * LM head is included only when the embeddings are not tied.
   */
  public static Map<String, long[]> required(LlavaConfig config) {
    Map<String, long[]> m = new LinkedHashMap<>();
    vision(config.vision(), config.visionLayersUsed(), m);
    long vh = config.vision().hiddenSize();
    long th = config.text().hiddenSize();
    m.put(PROJECTOR + "linear_1.weight", shape(th, vh));
    if (config.projectorBias()) {
      m.put(PROJECTOR + "linear_1.bias", shape(th));
    }
    if (config.projector() == ProjectorKind.MLP2X_GELU) {
      m.put(PROJECTOR + "linear_2.weight", shape(th, th));
      if (config.projectorBias()) {
        m.put(PROJECTOR + "linear_2.bias", shape(th));
      }
    }
    if (config.isAnyResolution()) {
      m.put(IMAGE_NEWLINE, shape(th));
    }
    text(config.text(), m);
    return m;
  }

  /**
   * Everything a full llava-hf checkpoint holds: {@link #required} plus the vision layers llava
   * skips and the tower's post-layernorm. Used to write a checkpoint.
   */
  public static Map<String, long[]> all(LlavaConfig config) {
    Map<String, long[]> m = new LinkedHashMap<>();
    VisionConfig v = config.vision();
    vision(v, v.numHiddenLayers(), m);
    m.put(VISION + "post_layernorm.weight", shape(v.hiddenSize()));
    m.put(VISION + "post_layernorm.bias", shape(v.hiddenSize()));
    required(config).forEach(m::putIfAbsent);
    return m;
  }

  private static void vision(VisionConfig v, int layers, Map<String, long[]> m) {
    long h = v.hiddenSize();
    long inter = v.intermediateSize();
    long p = v.patchSize();
    String e = VISION + "embeddings.";
    m.put(e + "patch_embedding.weight", shape(h, v.numChannels(), p, p));
    if (v.family() == VisionFamily.CLIP) {
      m.put(e + "class_embedding", shape(h));
    } else {
      m.put(e + "patch_embedding.bias", shape(h));
    }
    m.put(e + "position_embedding.weight", shape(v.sequenceLength(), h));
    if (v.family() == VisionFamily.CLIP) {
      m.put(VISION + "pre_layrnorm.weight", shape(h));
      m.put(VISION + "pre_layrnorm.bias", shape(h));
    }
    for (int i = 0; i < layers; i++) {
      String l = VISION + "encoder.layers." + i + ".";
      for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        m.put(l + "self_attn." + proj + ".weight", shape(h, h));
        m.put(l + "self_attn." + proj + ".bias", shape(h));
      }
      m.put(l + "layer_norm1.weight", shape(h));
      m.put(l + "layer_norm1.bias", shape(h));
      m.put(l + "mlp.fc1.weight", shape(inter, h));
      m.put(l + "mlp.fc1.bias", shape(inter));
      m.put(l + "mlp.fc2.weight", shape(h, inter));
      m.put(l + "mlp.fc2.bias", shape(h));
      m.put(l + "layer_norm2.weight", shape(h));
      m.put(l + "layer_norm2.bias", shape(h));
    }
  }

  private static void text(TextConfig t, Map<String, long[]> m) {
    long h = t.hiddenSize();
    long q = (long) t.numAttentionHeads() * t.headDim();
    long kv = (long) t.numKeyValueHeads() * t.headDim();
    long inter = t.intermediateSize();
    m.put(EMBED_TOKENS, shape(t.vocabSize(), h));
    for (int i = 0; i < t.numHiddenLayers(); i++) {
      String l = TEXT + "layers." + i + ".";
      m.put(l + "self_attn.q_proj.weight", shape(q, h));
      m.put(l + "self_attn.k_proj.weight", shape(kv, h));
      m.put(l + "self_attn.v_proj.weight", shape(kv, h));
      m.put(l + "self_attn.o_proj.weight", shape(h, q));
      if (t.qkvBias()) {
        m.put(l + "self_attn.q_proj.bias", shape(q));
        m.put(l + "self_attn.k_proj.bias", shape(kv));
        m.put(l + "self_attn.v_proj.bias", shape(kv));
      }
      if (t.outputBias()) {
        m.put(l + "self_attn.o_proj.bias", shape(h));
      }
      m.put(l + "mlp.gate_proj.weight", shape(inter, h));
      m.put(l + "mlp.up_proj.weight", shape(inter, h));
      m.put(l + "mlp.down_proj.weight", shape(h, inter));
      m.put(l + "input_layernorm.weight", shape(h));
      m.put(l + "post_attention_layernorm.weight", shape(h));
    }
    m.put(TEXT + "norm.weight", shape(h));
    if (!t.tieWordEmbeddings()) {
      m.put(LM_HEAD, shape(t.vocabSize(), h));
    }
  }

  private static long[] shape(long... dims) {
    return dims;
  }
}
