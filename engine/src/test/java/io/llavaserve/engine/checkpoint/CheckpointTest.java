package io.llavaserve.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.VisionFamily;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CheckpointTest {

  private static final String Q0 = "language_model.model.layers.0.self_attn.q_proj.weight";
  private static final String K1 = "language_model.model.layers.1.self_attn.k_proj.weight";
  private static final String FC1 = "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight";

  @TempDir Path dir;

  private static float[] floats(Checkpoint c, String name) {
    return c.tensor(name).toFloatArray();
  }

  @ParameterizedTest
  @EnumSource(WeightNaming.class)
  void everyNamingStyleOpensToTheSameCanonicalTensors(WeightNaming naming) throws Exception {
    TinySpec spec = TinySpec.tiny().withNaming(naming);
    Path hfDir = TinyCheckpoint.write(dir.resolve("hf"), TinySpec.tiny());
    Path styled = TinyCheckpoint.write(dir.resolve("styled"), spec);
    try (Checkpoint hf = Checkpoint.open(hfDir);
        Checkpoint c = Checkpoint.open(styled)) {
      assertEquals(spec.toConfig(), c.config());
      assertEquals(hf.tensorNames(), c.tensorNames());
      for (String name :
          List.of(
              Q0,
              K1,
              FC1,
              WeightShapes.LM_HEAD,
              WeightShapes.EMBED_TOKENS,
              "multi_modal_projector.linear_2.weight",
              "vision_tower.vision_model.embeddings.class_embedding")) {
        assertArrayEquals(floats(hf, name), floats(c, name), name);
      }
      assertArrayEquals(new long[] {64, 64}, c.tensor(Q0).shape());
      assertArrayEquals(new long[] {32, 64}, c.tensor(K1).shape(), "2 kv heads x head_dim 16");
      assertTrue(c.has("vision_tower.vision_model.post_layernorm.weight"));
      assertEquals(styled, c.directory());
      assertTrue(Files.isRegularFile(c.tokenizerJson()));
      assertTrue(Files.isRegularFile(c.tokenizerConfigJson()));
      assertTrue(c.preprocessorConfigJson().isPresent());
      assertTrue(c.chatTemplateJson().isEmpty());
    }
  }

  @ParameterizedTest
  @EnumSource(DType.class)
  void everyDtypeAndShardingHoldsTheRoundedValues(DType dtype) throws Exception {
    Path f32 = TinyCheckpoint.write(dir.resolve("f32"), TinySpec.tiny());
    Path other =
        TinyCheckpoint.write(dir.resolve("x"), TinySpec.tiny().withDtype(dtype).withShards(3));
    assertTrue(Files.exists(other.resolve(SafetensorsWriter.INDEX_FILE)));
    assertTrue(Files.exists(other.resolve("model-00003-of-00003.safetensors")));
    try (Checkpoint a = Checkpoint.open(f32);
        Checkpoint b = Checkpoint.open(other)) {
      assertEquals(dtype, b.tensor(Q0).dtype());
      assertEquals(a.tensorNames(), b.tensorNames());
      float[] exact = floats(a, Q0);
      float[] rounded = floats(b, Q0);
      for (int i = 0; i < exact.length; i++) {
        float expected =
            switch (dtype) {
              case F32 -> exact[i];
              case F16 -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(exact[i]));
              case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(exact[i]));
            };
        assertEquals(expected, rounded[i], 0f);
      }
    }
  }

  @Test
  void shardedWithoutIndexReadsEveryFile() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("s"), TinySpec.tiny().withShards(2));
    Files.delete(d.resolve(SafetensorsWriter.INDEX_FILE));
    try (Checkpoint c = Checkpoint.open(d)) {
      assertTrue(c.has(WeightShapes.LM_HEAD));
      assertTrue(c.has(FC1));
    }
  }

  @Test
  void tiedEmbeddingsServeAsTheLmHead() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("t"), TinySpec.tiny().withTiedEmbeddings(true));
    try (Checkpoint c = Checkpoint.open(d)) {
      assertTrue(c.config().text().tieWordEmbeddings());
      assertTrue(c.has(WeightShapes.LM_HEAD));
      assertArrayEquals(floats(c, WeightShapes.EMBED_TOKENS), floats(c, WeightShapes.LM_HEAD));
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = WeightNaming.class,
      names = {"HF", "ORIGINAL"})
  void projectorWithoutLinear2IsLinear(WeightNaming naming) throws Exception {
    Path d =
        TinyCheckpoint.write(
            dir.resolve("l"),
            TinySpec.tiny().withProjector(ProjectorKind.LINEAR).withNaming(naming));
    try (Checkpoint c = Checkpoint.open(d)) {
      assertEquals(ProjectorKind.LINEAR, c.config().projector());
      assertTrue(c.has("multi_modal_projector.linear_1.weight"));
      assertFalse(c.has("multi_modal_projector.linear_2.weight"));
    }
  }

  @ParameterizedTest
  @EnumSource(WeightNaming.class)
  void llavaNextsImageNewlineLoadsUnderEveryNaming(WeightNaming naming) throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("n"), TinySpec.next().withNaming(naming));
    String stored = naming == WeightNaming.HF ? "image_newline" : "model.image_newline";
    assertTrue(
        RawSafetensors.readAll(d.resolve(SafetensorsWriter.SINGLE_FILE)).stream()
            .anyMatch(r -> r.name().equals(stored)),
        stored);
    try (Checkpoint c = Checkpoint.open(d)) {
      assertEquals("llava_next", c.config().modelType());
      assertArrayEquals(new long[] {64}, c.tensor(WeightShapes.IMAGE_NEWLINE).shape());
    }
    // Without it the checkpoint is refused, naming the tensor.
    Path file = d.resolve(SafetensorsWriter.SINGLE_FILE);
    List<RawSafetensors.Raw> raw = new ArrayList<>(RawSafetensors.readAll(file));
    raw.removeIf(r -> r.name().equals(stored));
    RawSafetensors.write(file, raw);
    CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
    assertTrue(e.getMessage().contains("image_newline"), e.getMessage());
  }

  @Test
  void extraTensorsAndUnusedLayersAreNotNeeded() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("e"), TinySpec.tiny());
    Path file = d.resolve(SafetensorsWriter.SINGLE_FILE);
    List<RawSafetensors.Raw> raw = new ArrayList<>(RawSafetensors.readAll(file));
    // Vision layer 2 and post_layernorm are past feature layer -2: drop them.
    raw.removeIf(
        r -> r.name().contains("encoder.layers.2.") || r.name().contains("post_layernorm"));
    raw.add(
        new RawSafetensors.Raw(
            "language_model.model.layers.0.self_attn.rotary_emb.inv_freq",
            "F32",
            new long[] {8},
            new byte[32]));
    raw.add(
        new RawSafetensors.Raw(
            "vision_tower.vision_model.embeddings.position_ids",
            "I64",
            new long[] {1, 17},
            new byte[17 * 8]));
    RawSafetensors.write(file, raw);
    try (Checkpoint c = Checkpoint.open(d)) {
      assertFalse(c.has("vision_tower.vision_model.embeddings.position_ids"));
      assertThrows(
          NoSuchElementException.class,
          () -> c.tensor("vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight"));
    }
  }

  /** The tiny model's scales give logits with a real spread for a unit-RMS final state. */
  @Test
  void lmHeadGivesLogitsOfUsefulSpread() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("g"), TinySpec.tiny());
    try (Checkpoint c = Checkpoint.open(d)) {
      float[] head = floats(c, WeightShapes.LM_HEAD); // [vocab, hidden]
      float[] norm = floats(c, "language_model.model.norm.weight");
      int hidden = norm.length;
      float[] h = floats(c, WeightShapes.EMBED_TOKENS); // a token embedding as the state
      double rms = 0;
      for (int i = 0; i < hidden; i++) {
        rms += h[i] * h[i];
      }
      rms = Math.sqrt(rms / hidden);
      int vocab = head.length / hidden;
      double sum = 0;
      double sumSq = 0;
      for (int v = 0; v < vocab; v++) {
        double logit = 0;
        for (int i = 0; i < hidden; i++) {
          logit += head[v * hidden + i] * norm[i] * h[i] / rms;
        }
        sum += logit;
        sumSq += logit * logit;
      }
      double std = Math.sqrt(sumSq / vocab - (sum / vocab) * (sum / vocab));
      assertTrue(std > 1.0 && std < 3.0, "logit std " + std);
      float[] ln = floats(c, "vision_tower.vision_model.pre_layrnorm.weight");
      assertNotEquals(ln[0], ln[1], "norm weights carry noise");
    }
  }

  // ---- broken checkpoints: each fails at open, naming the file and the tensor or field ----

  private Path tiny() throws Exception {
    return TinyCheckpoint.write(dir.resolve("bad"), TinySpec.tiny());
  }

  private void rewrite(Path d, UnaryOperator<List<RawSafetensors.Raw>> edit) throws Exception {
    Path file = d.resolve(SafetensorsWriter.SINGLE_FILE);
    RawSafetensors.write(file, edit.apply(new ArrayList<>(RawSafetensors.readAll(file))));
  }

  private CheckpointException openFails(Path d, String... named) {
    CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
    for (String s : named) {
      assertTrue(e.getMessage().contains(s), "\"" + s + "\" not in: " + e.getMessage());
    }
    return e;
  }

  @Test
  void missingTensor() throws Exception {
    Path d = tiny();
    rewrite(
        d,
        l -> {
          l.removeIf(r -> r.name().equals(K1));
          return l;
        });
    openFails(d, d.resolve(SafetensorsWriter.SINGLE_FILE).toString(), K1, "missing");
  }

  @Test
  void missingTensorInShardedCheckpointNamesTheIndex() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("sh"), TinySpec.tiny().withShards(2));
    Path index = d.resolve(SafetensorsWriter.INDEX_FILE);
    Files.writeString(index, Files.readString(index).replace("model-00002-of-00002", "gone"));
    openFails(d, index.toString(), "gone.safetensors");
  }

  @Test
  void wrongShapeGivesExpectedAndActual() throws Exception {
    Path d = tiny();
    rewrite(
        d,
        l -> {
          l.replaceAll(
              r ->
                  r.name().equals(Q0)
                      ? new RawSafetensors.Raw(Q0, "F32", new long[] {32, 128}, r.bytes())
                      : r);
          return l;
        });
    openFails(d, d.resolve(SafetensorsWriter.SINGLE_FILE).toString(), Q0, "[32, 128]", "[64, 64]");
  }

  @Test
  void unsupportedDtypeOfANeededTensor() throws Exception {
    Path d = tiny();
    rewrite(
        d,
        l -> {
          l.replaceAll(
              r ->
                  r.name().equals(FC1)
                      ? new RawSafetensors.Raw(
                          FC1, "F64", r.shape(), new byte[r.bytes().length * 2])
                      : r);
          return l;
        });
    openFails(d, d.resolve(SafetensorsWriter.SINGLE_FILE).toString(), FC1, "unsupported dtype F64");
  }

  @Test
  void truncatedFile() throws Exception {
    Path d = tiny();
    Path file = d.resolve(SafetensorsWriter.SINGLE_FILE);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 100);
    }
    // The writer puts the LM head last.
    openFails(d, file.toString(), WeightShapes.LM_HEAD, "truncated");
  }

  @Test
  void headerTooLong() throws Exception {
    Path d = tiny();
    Path file = d.resolve(SafetensorsWriter.SINGLE_FILE);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, ch.size()), 0);
    }
    openFails(d, file.toString(), "header length");
  }

  @Test
  void missingConfig() throws Exception {
    Path d = tiny();
    Files.delete(d.resolve("config.json"));
    openFails(d, d.resolve("config.json").toString(), "missing");
  }

  @Test
  void missingTokenizer() throws Exception {
    Path d = tiny();
    Files.delete(d.resolve("tokenizer.json"));
    openFails(d, d.resolve("tokenizer.json").toString(), "missing");
  }

  @Test
  void missingLmHeadWhenNotTied() throws Exception {
    Path d = tiny();
    rewrite(
        d,
        l -> {
          l.removeIf(r -> r.name().equals(WeightShapes.LM_HEAD));
          return l;
        });
    openFails(
        d,
        d.resolve(SafetensorsWriter.SINGLE_FILE).toString(),
        WeightShapes.LM_HEAD,
        "tie_word_embeddings");
  }

  @Test
  void noWeightsAtAll() throws Exception {
    Path d = tiny();
    Files.delete(d.resolve(SafetensorsWriter.SINGLE_FILE));
    openFails(d, d.toString(), "no *.safetensors");
  }

  @Test
  void sameTensorUnderTwoNamingsIsADuplicate() throws Exception {
    Path d = tiny();
    rewrite(
        d,
        l -> {
          RawSafetensors.Raw q =
              l.stream().filter(r -> r.name().equals(Q0)).findFirst().orElseThrow();
          l.add(
              new RawSafetensors.Raw(
                  "model.layers.0.self_attn.q_proj.weight", q.dtype(), q.shape(), q.bytes()));
          return l;
        });
    openFails(d, "model.layers.0.self_attn.q_proj.weight", Q0);
  }

  /**
   * A SigLIP tower written as llava-hf writes llava-interleave: a biased patch convolution, one
   * position per patch, no class embedding or pre-norm, and a SiglipImageProcessor config.
   */
  @Test
  void siglipSpecWritesSiglipTensorsConfigAndProcessor() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("siglip"), TinySpec.siglipQwen2());
    String e = "vision_tower.vision_model.embeddings.";
    try (Checkpoint c = Checkpoint.open(d)) {
      assertEquals(TinySpec.siglipQwen2().toConfig(), c.config());
      assertEquals(io.llavaserve.engine.config.VisionFamily.SIGLIP, c.config().vision().family());
      assertEquals(16, c.config().imageSeqLength(), "60 // 14 = 4 per side, every patch kept");
      assertArrayEquals(new long[] {32}, c.tensor(e + "patch_embedding.bias").shape());
      assertArrayEquals(new long[] {16, 32}, c.tensor(e + "position_embedding.weight").shape());
      assertTrue(c.has("vision_tower.vision_model.post_layernorm.weight"));
      assertFalse(c.has(e + "class_embedding"));
      assertFalse(c.has("vision_tower.vision_model.pre_layrnorm.weight"));
    }
    String config = Files.readString(d.resolve("config.json"));
    assertTrue(config.contains("\"siglip_vision_model\""), config);
    assertTrue(config.contains("\"vision_use_head\" : false"), config);
    assertFalse(config.contains("quick_gelu"), "hidden_act left to SiglipVisionConfig");
    String pre = Files.readString(d.resolve("preprocessor_config.json"));
    assertTrue(pre.contains("\"SiglipImageProcessor\""), pre);
    assertTrue(pre.contains("\"height\" : 60"), pre);
    assertFalse(pre.contains("crop"), pre);
  }

  @Test
  void siglipWithoutThePatchBiasFailsNamingIt() throws Exception {
    Path d = TinyCheckpoint.write(dir.resolve("bad"), TinySpec.siglipQwen2());
    String bias = "vision_tower.vision_model.embeddings.patch_embedding.bias";
    rewrite(
        d,
        l -> {
          l.removeIf(r -> r.name().equals(bias));
          return l;
        });
    openFails(d, bias, "missing");
  }

  /**
   * transformers' LlavaProcessor and LlavaNextProcessor expand an image token by
   * processor_config.json ({@code (side / patch_size)^2 + num_additional_image_tokens}, less one
   * for the {@code default} strategy) and fail on any image without it; the count must be the
   * features a tile gives the model.
   */
  @Test
  void llavaAndLlavaNextSpecsWriteTheProcessorConfigTransformersCountsImageTokensBy()
      throws Exception {
    List<TinySpec> specs =
        List.of(
            TinySpec.tiny(),
            TinySpec.tiny().withVisionFamily(VisionFamily.SIGLIP),
            TinySpec.siglipQwen2(),
            TinySpec.next(),
            TinySpec.next().withVisionFamily(VisionFamily.SIGLIP));
    for (int i = 0; i < specs.size(); i++) {
      LlavaConfig config = specs.get(i).toConfig();
      Path d = TinyCheckpoint.write(dir.resolve("spec" + i), specs.get(i));
      JsonNode p = new ObjectMapper().readTree(d.resolve(Checkpoint.PROCESSOR_CONFIG).toFile());
      String what = config.modelType() + " " + config.vision().family() + ": " + p;

      assertEquals(
          config.isAnyResolution() ? "LlavaNextProcessor" : "LlavaProcessor",
          p.get("processor_class").asText(),
          what);
      assertEquals("<image>", p.get("image_token").asText(), what);
      assertEquals(
          config.visionFeatureSelectStrategy(),
          p.get("vision_feature_select_strategy").asText(),
          what);
      int perSide = config.vision().imageSize() / p.get("patch_size").asInt();
      int tokens =
          perSide * perSide
              + p.get("num_additional_image_tokens").asInt()
              - (p.get("vision_feature_select_strategy").asText().equals("default") ? 1 : 0);
      assertEquals(config.imageSeqLength(), tokens, what);
    }
  }

  @Test
  void configMatchesSpecAndPreprocessorIsClip() throws Exception {
    Path d = tiny();
    LlavaConfig parsed = LlavaConfigParser.parse(d.resolve("config.json"));
    assertEquals(TinySpec.tiny().toConfig(), parsed);
    assertEquals(16, parsed.imageSeqLength());
    String pre = Files.readString(d.resolve("preprocessor_config.json"));
    assertTrue(pre.contains("\"shortest_edge\" : 56"), pre);
    assertTrue(pre.contains("0.48145466"), pre);
    assertEquals(
        Files.size(
            Path.of("src/main/resources/io/llavaserve/engine/tokenizer/llama/tokenizer.json")),
        Files.size(d.resolve("tokenizer.json")));
  }
}
