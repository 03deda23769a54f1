package io.llavaserve.engine.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.WeightTensor;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.TextFamily;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A llava checkpoint's language model as a llama.cpp GGUF file ({@code llama} architecture), laid
 * out as llama.cpp's {@code convert_hf_to_gguf.py} writes a LLaMA or Mistral checkpoint: ggml's
 * tensor names ({@code token_embd}, {@code blk.N.attn_q}, ...), the query and key rows of each head
 * reordered from transformers' rotate-half layout to the interleaved pairs llama.cpp rotates, the
 * norms in float32 and every matrix in the chosen type, and the SentencePiece-style vocabulary
 * ({@code tokenizer.ggml.model = llama}; a merged token scores minus its merge rank, so llama.cpp's
 * tokenizer merges in the checkpoint's order; ids past the tokenizer, up to the embedding's rows,
 * are {@code [PADn]}, unused).
 *
 * <p>The vision tower and projector are not written (llama.cpp keeps them in a separate {@code
 * mmproj} file); this export is for running and measuring the decoder in llama.cpp on the same
 * weights. Qwen2 decoders and byte-level BPE tokenizers are refused.
 */
public final class GgufExport {

  private static final ObjectMapper JSON = new ObjectMapper();

  // llama.cpp's llama_token_type
  static final int NORMAL = 1;
  static final int UNKNOWN = 2;
  static final int CONTROL = 3;
  static final int USER_DEFINED = 4;
  static final int UNUSED = 5;
  static final int BYTE = 6;

  private GgufExport() {}

  /** ggml's {@code general.file_type} of a model whose matrices are {@code type}. */
  static int fileType(GgufType type) {
    return switch (type) {
      case F32 -> 0;
      case F16 -> 1;
      case BF16 -> 32;
      case Q4_0 -> 2;
      case Q8_0 -> 7;
    };
  }

  /**
   * The writer for {@code ckpt}'s decoder with its matrices in {@code type}.
   *
   * @throws IllegalArgumentException for a decoder or tokenizer llama.cpp's llama architecture does
   *     not describe, naming what
   */
  public static GgufWriter of(Checkpoint ckpt, GgufType type, String name) throws IOException {
    TextConfig t = ckpt.config().text();
    if (t.family() == TextFamily.QWEN2 || t.qkvBias() || t.outputBias()) {
      throw new IllegalArgumentException(
          "only LLaMA and Mistral decoders without biases are exported to GGUF, not "
              + t.family().modelType()
              + (t.qkvBias() || t.outputBias() ? " with attention biases" : ""));
    }
    if (!t.hiddenAct().equals("silu")) {
      throw new IllegalArgumentException(
          "hidden_act " + t.hiddenAct() + ": llama.cpp's llama uses silu");
    }
    if (t.headDim() * t.numAttentionHeads() != t.hiddenSize()) {
      throw new IllegalArgumentException(
          "head_dim "
              + t.headDim()
              + " x "
              + t.numAttentionHeads()
              + " heads is not the width "
              + t.hiddenSize());
    }
    Vocabulary vocab = Vocabulary.read(ckpt, t.vocabSize());
    GgufWriter w = new GgufWriter();
    w.putString("general.architecture", "llama")
        .putString("general.name", name)
        .putUint32("general.file_type", fileType(type))
        .putUint32("general.quantization_version", 2)
        .putUint32("general.alignment", GgufWriter.ALIGNMENT)
        .putUint32("llama.vocab_size", t.vocabSize())
        .putUint32("llama.context_length", t.maxPositionEmbeddings())
        .putUint32("llama.embedding_length", t.hiddenSize())
        .putUint32("llama.block_count", t.numHiddenLayers())
        .putUint32("llama.feed_forward_length", t.intermediateSize())
        .putUint32("llama.rope.dimension_count", t.headDim())
        .putUint32("llama.attention.head_count", t.numAttentionHeads())
        .putUint32("llama.attention.head_count_kv", t.numKeyValueHeads())
        .putFloat32("llama.attention.layer_norm_rms_epsilon", (float) t.rmsNormEps())
        .putFloat32("llama.rope.freq_base", (float) t.ropeTheta())
        .putString("tokenizer.ggml.model", "llama")
        .putStrings("tokenizer.ggml.tokens", vocab.tokens)
        .putFloats("tokenizer.ggml.scores", vocab.scores)
        .putInts("tokenizer.ggml.token_type", vocab.types)
        .putBool("tokenizer.ggml.add_bos_token", vocab.addBos)
        .putBool("tokenizer.ggml.add_eos_token", false);
    vocab.special.forEach((key, id) -> w.putUint32("tokenizer.ggml." + key + "_token_id", id));

    String lm = "language_model.model.";
    w.tensor(
        "token_embd.weight",
        ne(ckpt.tensor(lm + "embed_tokens.weight")),
        type,
        rows(ckpt.tensor(lm + "embed_tokens.weight"), null));
    for (int i = 0; i < t.numHiddenLayers(); i++) {
      String p = lm + "layers." + i + ".";
      String b = "blk." + i + ".";
      vector(w, b + "attn_norm.weight", ckpt.tensor(p + "input_layernorm.weight"));
      matrix(
          w,
          b + "attn_q.weight",
          ckpt.tensor(p + "self_attn.q_proj.weight"),
          type,
          ropeOrder(t.numAttentionHeads(), t.headDim()));
      matrix(
          w,
          b + "attn_k.weight",
          ckpt.tensor(p + "self_attn.k_proj.weight"),
          type,
          ropeOrder(t.numKeyValueHeads(), t.headDim()));
      matrix(w, b + "attn_v.weight", ckpt.tensor(p + "self_attn.v_proj.weight"), type, null);
      matrix(w, b + "attn_output.weight", ckpt.tensor(p + "self_attn.o_proj.weight"), type, null);
      vector(w, b + "ffn_norm.weight", ckpt.tensor(p + "post_attention_layernorm.weight"));
      matrix(w, b + "ffn_gate.weight", ckpt.tensor(p + "mlp.gate_proj.weight"), type, null);
      matrix(w, b + "ffn_up.weight", ckpt.tensor(p + "mlp.up_proj.weight"), type, null);
      matrix(w, b + "ffn_down.weight", ckpt.tensor(p + "mlp.down_proj.weight"), type, null);
    }
    vector(w, "output_norm.weight", ckpt.tensor(lm + "norm.weight"));
    if (!t.tieWordEmbeddings() && ckpt.has("language_model.lm_head.weight")) {
      matrix(w, "output.weight", ckpt.tensor("language_model.lm_head.weight"), type, null);
    }
    return w;
  }

  /**
   * For each row of a projection's output in llama.cpp's order, the row of transformers' order it
   * takes: within every head of {@code dim} rows, row {@code 2j + t} is transformers' {@code t *
   * dim / 2 + j} (the inverse of the permutation transformers' conversion applied to Meta's
   * weights).
   */
  static int[] ropeOrder(int heads, int dim) {
    int[] order = new int[heads * dim];
    for (int h = 0; h < heads; h++) {
      for (int j = 0; j < dim / 2; j++) {
        for (int t = 0; t < 2; t++) {
          order[h * dim + 2 * j + t] = h * dim + t * (dim / 2) + j;
        }
      }
    }
    return order;
  }

  private static void vector(GgufWriter w, String name, WeightTensor x) {
    w.tensor(name, ne(x), GgufType.F32, rows(x, null));
  }

  private static void matrix(
      GgufWriter w, String name, WeightTensor x, GgufType type, int[] order) {
    if (x.rank() != 2) {
      throw new IllegalArgumentException(x.name() + " is not a matrix: " + x.shapeString());
    }
    w.tensor(name, ne(x), type, rows(x, order));
  }

  /** ggml's dimensions of a tensor: PyTorch's, reversed. */
  private static long[] ne(WeightTensor x) {
    long[] ne = new long[x.rank()];
    for (int i = 0; i < ne.length; i++) {
      ne[i] = x.dim(x.rank() - 1 - i);
    }
    return ne;
  }

  /** Rows of {@code x} (its last dimension long), through {@code order} when given. */
  private static GgufWriter.Source rows(WeightTensor x, int[] order) {
    int length = (int) x.dim(x.rank() - 1);
    return (first, count, dst) -> {
      if (order == null) {
        x.readFloats(first * length, dst, 0, count * length);
      } else {
        for (int r = 0; r < count; r++) {
          x.readFloats((long) order[(int) first + r] * length, dst, r * length, length);
        }
      }
    };
  }

  /**
   * The tokenizer as GGUF's arrays, from {@code tokenizer.json} and {@code tokenizer_config.json}.
   */
  static final class Vocabulary {
    final List<String> tokens;
    final float[] scores;
    final int[] types;
    final Map<String, Integer> special = new java.util.LinkedHashMap<>();
    boolean addBos = true;

    private Vocabulary(int size) {
      tokens = new ArrayList<>(java.util.Collections.nCopies(size, (String) null));
      scores = new float[size];
      types = new int[size];
    }

    static Vocabulary read(Checkpoint ckpt, int size) throws IOException {
      JsonNode tok = JSON.readTree(ckpt.tokenizerJson().toFile());
      JsonNode model = tok.path("model");
      if (!"BPE".equals(model.path("type").asText()) || !model.path("byte_fallback").asBoolean()) {
        throw new IllegalArgumentException(
            "only SentencePiece-style tokenizers (BPE with byte fallback, as LLaMA's and"
                + " Mistral's) are exported to GGUF; this one is "
                + model.path("type").asText()
                + (model.path("byte_fallback").asBoolean() ? "" : " without byte fallback"));
      }
      Vocabulary v = new Vocabulary(size);
      Map<String, Integer> ranks = new HashMap<>();
      int rank = 0;
      for (JsonNode m : model.path("merges")) {
        String merged =
            m.isArray() ? m.get(0).asText() + m.get(1).asText() : m.asText().replaceFirst(" ", "");
        ranks.putIfAbsent(merged, rank++);
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = model.path("vocab").fields();
          it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        int id = e.getValue().asInt();
        if (id < 0 || id >= size) {
          throw new IllegalArgumentException(
              "token "
                  + e.getKey()
                  + " has id "
                  + id
                  + " outside the embedding's "
                  + size
                  + " rows");
        }
        String piece = e.getKey();
        v.tokens.set(id, piece);
        Integer r = ranks.get(piece);
        v.scores[id] = r == null ? 0f : -r - 1f;
        v.types[id] = piece.matches("<0x[0-9A-F]{2}>") ? BYTE : NORMAL;
      }
      for (JsonNode a : tok.path("added_tokens")) {
        int id = a.path("id").asInt();
        if (id < 0 || id >= size) {
          throw new IllegalArgumentException(
              "added token " + a.path("content").asText() + " has id " + id + " outside " + size);
        }
        v.tokens.set(id, a.path("content").asText());
        v.scores[id] = 0f;
        v.types[id] = a.path("special").asBoolean() ? CONTROL : USER_DEFINED;
      }
      String unk = model.path("unk_token").asText("<unk>");
      for (int id = 0; id < size; id++) {
        if (v.tokens.get(id) == null) {
          v.tokens.set(id, "[PAD" + id + "]");
          v.types[id] = UNUSED;
        } else if (v.tokens.get(id).equals(unk)) {
          v.types[id] = UNKNOWN;
          v.special.put("unknown", id);
        }
      }
      Path config = ckpt.tokenizerConfigJson();
      if (config != null && Files.exists(config)) {
        JsonNode c = JSON.readTree(config.toFile());
        v.addBos = c.path("add_bos_token").asBoolean(true);
        for (String key : List.of("bos", "eos", "pad")) {
          JsonNode n = c.path(key + "_token");
          String text = n.isObject() ? n.path("content").asText(null) : n.asText(null);
          int id = text == null ? -1 : v.tokens.indexOf(text);
          if (id >= 0) {
            v.special.put(key.equals("pad") ? "padding" : key, id);
          }
        }
      }
      return v;
    }
  }
}
