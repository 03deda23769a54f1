package io.llavaserve.engine.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.TextConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GGUF export read back by an independent reader of the format: header, metadata, tensor infos
 * at aligned offsets, and the data (the query and key rows in llama.cpp's rotary order, the
 * quantized blocks within their rounding). That llama.cpp itself decodes the same greedy tokens as
 * the server from an exported file is checked by the benchmark's README recipe, which needs node.
 */
class GgufExportTest {

  @TempDir Path dir;

  /** A GGUF file as its bytes say: metadata values and tensor infos. */
  record Parsed(
      int version,
      Map<String, Object> metadata,
      Map<String, long[]> dims,
      Map<String, Integer> types,
      Map<String, Long> offsets,
      long dataStart,
      ByteBuffer bytes) {

    ByteBuffer data(String tensor) {
      return bytes
          .duplicate()
          .order(ByteOrder.LITTLE_ENDIAN)
          .position(Math.toIntExact(dataStart + offsets.get(tensor)));
    }
  }

  static Parsed parse(Path file) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(0x46554747, b.getInt(), "magic");
    int version = b.getInt();
    long tensors = b.getLong();
    long kvs = b.getLong();
    Map<String, Object> md = new LinkedHashMap<>();
    for (long i = 0; i < kvs; i++) {
      String key = string(b);
      md.put(key, value(b, b.getInt()));
    }
    Map<String, long[]> dims = new LinkedHashMap<>();
    Map<String, Integer> types = new LinkedHashMap<>();
    Map<String, Long> offsets = new LinkedHashMap<>();
    for (long i = 0; i < tensors; i++) {
      String name = string(b);
      long[] ne = new long[b.getInt()];
      for (int d = 0; d < ne.length; d++) {
        ne[d] = b.getLong();
      }
      dims.put(name, ne);
      types.put(name, b.getInt());
      offsets.put(name, b.getLong());
    }
    long start = (b.position() + 31) / 32 * 32;
    return new Parsed(version, md, dims, types, offsets, start, b);
  }

  private static String string(ByteBuffer b) {
    byte[] s = new byte[Math.toIntExact(b.getLong())];
    b.get(s);
    return new String(s, StandardCharsets.UTF_8);
  }

  private static Object value(ByteBuffer b, int type) {
    return switch (type) {
      case 4, 5 -> b.getInt();
      case 6 -> b.getFloat();
      case 7 -> b.get() != 0;
      case 8 -> string(b);
      case 9 -> {
        int elem = b.getInt();
        long n = b.getLong();
        List<Object> list = new ArrayList<>();
        for (long i = 0; i < n; i++) {
          list.add(value(b, elem));
        }
        yield list;
      }
      default -> throw new AssertionError("type " + type);
    };
  }

  @Test
  void theDecoderIsWrittenAsLlamaCppReadsALlamaCheckpoint() throws Exception {
    Path model = TinyCheckpoint.write(dir.resolve("m"), TinySpec.tiny());
    Path out = dir.resolve("m.gguf");
    try (Checkpoint ckpt = Checkpoint.open(model)) {
      TextConfig t = ckpt.config().text();
      GgufExport.of(ckpt, GgufType.F32, "tiny").write(out);
      Parsed g = parse(out);
      assertEquals(3, g.version());
      assertEquals("llama", g.metadata().get("general.architecture"));
      assertEquals(t.hiddenSize(), g.metadata().get("llama.embedding_length"));
      assertEquals(t.numHiddenLayers(), g.metadata().get("llama.block_count"));
      assertEquals(t.numKeyValueHeads(), g.metadata().get("llama.attention.head_count_kv"));
      assertEquals(t.headDim(), g.metadata().get("llama.rope.dimension_count"));
      assertEquals((float) t.ropeTheta(), g.metadata().get("llama.rope.freq_base"));
      assertEquals(0, g.metadata().get("general.file_type"));
      @SuppressWarnings("unchecked")
      List<String> tokens = (List<String>) g.metadata().get("tokenizer.ggml.tokens");
      @SuppressWarnings("unchecked")
      List<Integer> types = (List<Integer>) g.metadata().get("tokenizer.ggml.token_type");
      assertEquals(t.vocabSize(), tokens.size());
      assertEquals("<s>", tokens.get((Integer) g.metadata().get("tokenizer.ggml.bos_token_id")));
      assertEquals("</s>", tokens.get((Integer) g.metadata().get("tokenizer.ggml.eos_token_id")));
      assertEquals(GgufExport.BYTE, types.get(tokens.indexOf("<0x0A>")));
      assertEquals(GgufExport.CONTROL, types.get(tokens.indexOf("<image>")));
      assertEquals(GgufExport.UNUSED, types.get(t.vocabSize() - 1), tokens.get(t.vocabSize() - 1));

      assertEquals(2 + 9 * t.numHiddenLayers() + (t.tieWordEmbeddings() ? 0 : 1), g.dims().size());
      for (long off : g.offsets().values()) {
        assertEquals(0, off % 32, "aligned offsets");
      }
      assertArrayEquals(
          new long[] {t.hiddenSize(), t.vocabSize()}, g.dims().get("token_embd.weight"));
      assertArrayEquals(new long[] {t.hiddenSize()}, g.dims().get("blk.0.attn_norm.weight"));
      assertArrayEquals(
          new long[] {t.intermediateSize(), t.hiddenSize()}, g.dims().get("blk.1.ffn_down.weight"));

      // Query rows: head h's row 2j + t is transformers' row t * d/2 + j.
      float[] q =
          ckpt.tensor("language_model.model.layers.1.self_attn.q_proj.weight").toFloatArray();
      ByteBuffer data = g.data("blk.1.attn_q.weight");
      int width = t.hiddenSize();
      int d = t.headDim();
      for (int row = 0; row < t.numAttentionHeads() * d; row++) {
        int h = row / d;
        int within = row % d;
        int from = h * d + (within % 2) * (d / 2) + within / 2;
        for (int c = 0; c < width; c++) {
          assertEquals(q[from * width + c], data.getFloat(), "q row " + row + " col " + c);
        }
      }
      float[] down =
          ckpt.tensor("language_model.model.layers.0.mlp.down_proj.weight").toFloatArray();
      ByteBuffer downData = g.data("blk.0.ffn_down.weight");
      for (float v : down) {
        assertEquals(v, downData.getFloat());
      }
    }
  }

  @Test
  void quantizedMatricesKeepTheirBlocksAndNormsStayFloat32() throws Exception {
    Path model = TinyCheckpoint.write(dir.resolve("m"), TinySpec.tiny());
    try (Checkpoint ckpt = Checkpoint.open(model)) {
      for (GgufType type : List.of(GgufType.F16, GgufType.BF16, GgufType.Q8_0, GgufType.Q4_0)) {
        Path out = dir.resolve(type + ".gguf");
        GgufExport.of(ckpt, type, "tiny").write(out);
        Parsed g = parse(out);
        assertEquals(GgufExport.fileType(type), g.metadata().get("general.file_type"));
        assertEquals(type.id, g.types().get("blk.0.ffn_up.weight"));
        assertEquals(GgufType.F32.id, g.types().get("blk.0.ffn_norm.weight"));
        assertEquals(GgufType.F32.id, g.types().get("output_norm.weight"));
        float[] up = ckpt.tensor("language_model.model.layers.0.mlp.up_proj.weight").toFloatArray();
        float[] back = new float[up.length];
        type.decode(g.data("blk.0.ffn_up.weight"), back, 0, back.length);
        double err = 0;
        double norm = 0;
        for (int i = 0; i < up.length; i++) {
          err += (up[i] - back[i]) * (double) (up[i] - back[i]);
          norm += up[i] * (double) up[i];
        }
        double rel = Math.sqrt(err / norm);
        double bound =
            switch (type) {
              case F16 -> 1e-3;
              case BF16 -> 4e-3; // 8 significant bits: at most 2^-9 of each value
              case Q8_0 -> 0.01;
              default -> 0.15;
            };
        assertTrue(rel < bound, type + ": relative RMS error " + rel);
      }
    }
  }

  @Test
  void blocksQuantizeAsGgmlsReferenceDoes() {
    float[] x = new float[32];
    SplittableRandom rnd = new SplittableRandom(3);
    for (int i = 0; i < 32; i++) {
      x[i] = (float) rnd.nextDouble(-1, 1);
    }
    x[5] = -2f; // the value of largest magnitude, negative: Q4_0's scale is -2 / -8 = 0.25
    ByteBuffer q4 = ByteBuffer.allocate(18).order(ByteOrder.LITTLE_ENDIAN);
    GgufType.Q4_0.encode(x, 0, 32, q4);
    q4.flip();
    float[] back = new float[32];
    GgufType.Q4_0.decode(q4.duplicate().order(ByteOrder.LITTLE_ENDIAN), back, 0, 32);
    assertEquals(0.25f, io.llavaserve.engine.checkpoint.HalfFloats.f16ToFloat(q4.getShort(0)));
    assertEquals(-2f, back[5]); // -8 * 0.25: the extreme is exact
    for (int i = 0; i < 32; i++) {
      assertTrue(Math.abs(x[i] - back[i]) <= 0.125f + 1e-6f, "element " + i);
    }
    ByteBuffer q8 = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN);
    GgufType.Q8_0.encode(x, 0, 32, q8);
    q8.flip();
    GgufType.Q8_0.decode(q8, back, 0, 32);
    for (int i = 0; i < 32; i++) {
      assertTrue(Math.abs(x[i] - back[i]) <= 2f / 127 / 2 + 1e-3f, "element " + i);
    }
    assertEquals(34 * 4, GgufType.Q8_0.rowBytes(128));
    assertThrows(IllegalArgumentException.class, () -> GgufType.Q4_0.rowBytes(100));
    assertThrows(IllegalArgumentException.class, () -> GgufType.parse("q5_k"));
  }

  @Test
  void ropeOrderInterleavesEachHeadsHalves() {
    assertArrayEquals(new int[] {0, 2, 1, 3, 4, 6, 5, 7}, GgufExport.ropeOrder(2, 4));
  }

  @Test
  void aQwen2DecoderIsRefusedNamingWhy() throws Exception {
    Path model = TinyCheckpoint.write(dir.resolve("q"), TinySpec.siglipQwen2());
    try (Checkpoint ckpt = Checkpoint.open(model)) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class, () -> GgufExport.of(ckpt, GgufType.F16, "q"));
      assertTrue(e.getMessage().contains("qwen2"), e.getMessage());
    }
  }
}
