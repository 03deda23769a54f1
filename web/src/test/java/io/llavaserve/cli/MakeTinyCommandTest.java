package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.TextFamily;
import io.llavaserve.engine.config.VisionFamily;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.engine.tokenizer.TokenizerLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MakeTinyCommandTest {

  @TempDir Path tmp;

  @Test
  void writesALoadableCheckpointDeterminedByTheSeed() throws Exception {
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    Path c = tmp.resolve("c");

    Cli.Run run = Cli.run("make-tiny", "--out", a.toString());
    Cli.run("make-tiny", "--out", b.toString());
    Cli.run("make-tiny", "--out", c.toString(), "--seed", "7");

    assertEquals(0, run.exit(), run.err());
    assertTrue(run.err().contains(a.toString()), run.err());
    for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json"}) {
      assertTrue(Files.size(a.resolve(f)) > 0, f);
    }
    try (Checkpoint ckpt = Checkpoint.open(a)) {
      assertEquals(TinySpec.IMAGE_TOKEN_INDEX, ckpt.config().imageTokenIndex());
      assertEquals(TinySpec.tiny().vocabSize(), ckpt.config().text().vocabSize());
    }
    byte[] weightsA = Files.readAllBytes(a.resolve("model.safetensors"));
    assertArrayEquals(weightsA, Files.readAllBytes(b.resolve("model.safetensors")));
    assertNotEquals(
        java.util.Arrays.hashCode(weightsA),
        java.util.Arrays.hashCode(Files.readAllBytes(c.resolve("model.safetensors"))),
        "--seed changes the weights");
  }

  @Test
  void familyPresetsWriteTheirDecodersAndServeThem() throws Exception {
    Path qwen = tmp.resolve("qwen2");
    Path mistral = tmp.resolve("mistral");
    assertEquals(0, Cli.run("make-tiny", "--preset", "qwen2", "--out", qwen.toString()).exit());
    assertEquals(
        0, Cli.run("make-tiny", "--preset", "mistral", "--out", mistral.toString()).exit());

    String qwenConfig = Files.readString(qwen.resolve("config.json"));
    assertTrue(qwenConfig.contains("\"Qwen2ForCausalLM\""), qwenConfig);
    try (Checkpoint ckpt = Checkpoint.open(qwen)) {
      assertEquals(TextFamily.QWEN2, ckpt.config().text().family());
      assertTrue(ckpt.has("language_model.model.layers.0.self_attn.q_proj.bias"));
      assertTrue(ckpt.has("language_model.model.layers.1.self_attn.v_proj.bias"));
      assertFalse(ckpt.has("language_model.model.layers.0.self_attn.o_proj.bias"));
    }
    try (Checkpoint ckpt = Checkpoint.open(mistral)) {
      assertEquals(TextFamily.MISTRAL, ckpt.config().text().family());
      assertEquals(TinySpec.MISTRAL_SLIDING_WINDOW, ckpt.config().text().maxContext());
    }
    Cli.Run answer =
        Cli.run("generate", "--model", qwen.toString(), "--prompt", "hello", "--max-tokens", "3");
    assertEquals(0, answer.exit(), answer.err());
    // Qwen2's tokenizer files, its specials right below <image> (32000); Mistral keeps LLaMA's.
    String tokenizerConfig = Files.readString(qwen.resolve("tokenizer_config.json"));
    assertTrue(tokenizerConfig.contains("\"Qwen2Tokenizer\""), tokenizerConfig);
    assertTrue(Files.exists(qwen.resolve("generation_config.json")));
    Cli.Run ids =
        Cli.run("tokenize", "--model", qwen.toString(), "--text", "<|im_start|><image><|im_end|>");
    assertEquals("[[31998,32000,31999]]", ids.out().strip(), ids.err());
    assertTrue(
        Files.readString(mistral.resolve("tokenizer_config.json")).contains("LlamaTokenizer"));
  }

  @Test
  void siglipPresetWritesTheInterleaveLayoutAndAnswersAboutAnImage() throws Exception {
    Path siglip = tmp.resolve("siglip");
    Cli.Run made = Cli.run("make-tiny", "--preset", "siglip-qwen2", "--out", siglip.toString());

    assertEquals(0, made.exit(), made.err());
    assertTrue(made.err().contains("siglip_vision_model tower"), made.err());
    try (Checkpoint ckpt = Checkpoint.open(siglip)) {
      assertEquals(VisionFamily.SIGLIP, ckpt.config().vision().family());
      assertEquals(TextFamily.QWEN2, ckpt.config().text().family());
      assertTrue(ckpt.has("vision_tower.vision_model.embeddings.patch_embedding.bias"));
      assertFalse(ckpt.has("vision_tower.vision_model.embeddings.class_embedding"));
      assertTrue(
          ServeCommand.describe(ckpt.config())
              .startsWith("llava: SigLIP tower 32 x 3 layers at 60 px, qwen2 decoder"),
          ServeCommand.describe(ckpt.config()));
    }
    String pre = Files.readString(siglip.resolve("preprocessor_config.json"));
    assertTrue(pre.contains("SiglipImageProcessor"), pre);
    Path image = Cli.png(tmp.resolve("a.png"), 48, 32);
    Cli.Run answer =
        Cli.run(
            "generate",
            "--model",
            siglip.toString(),
            "--image",
            image.toString(),
            "--prompt",
            "What is this?",
            "--max-tokens",
            "3");
    assertEquals(0, answer.exit(), answer.err());
    Cli.Run inspect =
        Cli.run(
            "inspect",
            "--model",
            siglip.toString(),
            "--kv-cache-mb",
            "4",
            "--image",
            image.toString(),
            "--prompt",
            "What is this?",
            "--out",
            tmp.resolve("inspect").toString());
    assertEquals(0, inspect.exit(), inspect.err());
    assertTrue(
        inspect
            .err()
            .contains(
                "tower: siglip_vision_model, 60 px in 14 px patches (4 x 4), layer -1, strategy"
                    + " full: 16 positions per image"),
        inspect.err());
  }

  @Test
  void nextPresetWritesTheLlavaNextLayoutAndAnswersAboutAnImage() throws Exception {
    Path next = tmp.resolve("next");
    Cli.Run made = Cli.run("make-tiny", "--preset", "next", "--out", next.toString());

    assertEquals(0, made.exit(), made.err());
    assertTrue(made.err().contains("(llava_next, clip_vision_model tower)"), made.err());
    String config = Files.readString(next.resolve("config.json"));
    assertTrue(config.contains("\"LlavaNextForConditionalGeneration\""), config);
    assertTrue(config.contains("\"image_grid_pinpoints\""), config);
    String pre = Files.readString(next.resolve("preprocessor_config.json"));
    assertTrue(pre.contains("\"LlavaNextImageProcessor\""), pre);
    try (Checkpoint ckpt = Checkpoint.open(next)) {
      assertEquals("llava_next", ckpt.config().modelType());
      assertTrue(ckpt.has("image_newline"));
      assertEquals(
          "llava_next: CLIP tower 32 x 3 layers at 56 px, llama decoder 64 x 2 layers, 3 to 5 tiles"
              + " of 56 px per image (pinpoints [56, 112] [112, 56] [112, 112] [168, 56] [56,"
              + " 168]), 16 positions per tile; 70 positions for a 640 x 480 image",
          ServeCommand.describe(ckpt.config()));
    }
    Path image = Cli.png(tmp.resolve("b.png"), 48, 32);
    Cli.Run answer =
        Cli.run(
            "generate",
            "--model",
            next.toString(),
            "--image",
            image.toString(),
            "--prompt",
            "What is this?",
            "--max-tokens",
            "3");
    assertEquals(0, answer.exit(), answer.err());
  }

  @Test
  void onevisionPresetWritesTheLlavaOnevisionLayoutAndAnswersAboutOneImageAndTwo()
      throws Exception {
    Path ov = tmp.resolve("onevision");
    Cli.Run made = Cli.run("make-tiny", "--preset", "onevision", "--out", ov.toString());

    assertEquals(0, made.exit(), made.err());
    assertTrue(made.err().contains("(llava_onevision, siglip_vision_model tower)"), made.err());
    String config = Files.readString(ov.resolve("config.json"));
    assertTrue(config.contains("\"LlavaOnevisionForConditionalGeneration\""), config);
    assertTrue(config.contains("\"vision_aspect_ratio\" : \"anyres_max_9\""), config);
    assertTrue(config.contains("\"image_grid_pinpoints\""), config);
    assertFalse(config.contains("image_seq_length"), "LlavaOnevisionConfig has none");
    String pre = Files.readString(ov.resolve("preprocessor_config.json"));
    assertTrue(pre.contains("\"LlavaOnevisionImageProcessor\""), pre);
    String processor = Files.readString(ov.resolve("processor_config.json"));
    assertTrue(processor.contains("\"num_image_tokens\" : 16"), processor);
    try (Checkpoint ckpt = Checkpoint.open(ov)) {
      assertEquals("llava_onevision", ckpt.config().modelType());
      assertTrue(ckpt.has("image_newline"));
      assertEquals(
          "llava_onevision: SigLIP tower 32 x 3 layers at 60 px, qwen2 decoder 64 x 2 layers, 2 to"
              + " 37 tiles of 60 px per image (pinpoints 36, [60, 60] to [360, 360]), 16 positions"
              + " per tile; "
              + ckpt.config().imagePositions(480, 640)
              + " positions for a 640 x 480 image; anyres_max_9: grid maps past 9"
              + " tiles' worth reduced by bilinear interpolation, at most "
              + ckpt.config().anyResolution().maxPositions()
              + " positions an image; in a prompt with several images each is one tile, 17"
              + " positions",
          ServeCommand.describe(ckpt.config()));
      // The checkpoint's own ChatML template: a turn's images first, one line each.
      String rendered =
          io.llavaserve.engine.prompt.ChatTemplate.forCheckpoint(
                  ckpt.tokenizerConfigJson(), ov.resolve(Checkpoint.CHAT_TEMPLATE))
              .render(
                  java.util.List.of(
                      new io.llavaserve.engine.prompt.ChatMessage(
                          "user",
                          java.util.List.of(
                              new io.llavaserve.engine.prompt.ContentPart.Text("Compare."),
                              new io.llavaserve.engine.prompt.ContentPart.Image(),
                              new io.llavaserve.engine.prompt.ContentPart.Image()))),
                  true);
      assertEquals(
          "<|im_start|>user\n<image>\n<image>\nCompare.<|im_end|>\n<|im_start|>assistant\n",
          rendered);
    }
    Path image = Cli.png(tmp.resolve("b.png"), 300, 240);
    Path other = Cli.png(tmp.resolve("c.png"), 48, 32);
    for (String[] images :
        new String[][] {
          {"--image", image.toString()}, {"--image", image.toString(), "--image", other.toString()}
        }) {
      java.util.List<String> args =
          new java.util.ArrayList<>(java.util.List.of("generate", "--model", ov.toString()));
      args.addAll(java.util.List.of(images));
      args.addAll(java.util.List.of("--prompt", "What is this?", "--max-tokens", "3"));
      Cli.Run answer = Cli.run(args.toArray(String[]::new));
      assertEquals(0, answer.exit(), answer.err());
    }
  }

  @Test
  void visionFlagSwapsAnyPresetsTower() throws Exception {
    Path tiny = tmp.resolve("tiny-siglip");
    Cli.Run made = Cli.run("make-tiny", "--vision", "siglip", "--out", tiny.toString());
    Cli.Run bad = Cli.run("make-tiny", "--vision", "vit", "--out", tmp.resolve("vit").toString());

    assertEquals(0, made.exit(), made.err());
    try (Checkpoint ckpt = Checkpoint.open(tiny)) {
      assertEquals(VisionFamily.SIGLIP, ckpt.config().vision().family());
      assertEquals(TextFamily.LLAMA, ckpt.config().text().family());
      assertEquals(16, ckpt.config().imageSeqLength());
    }
    assertNotEquals(0, bad.exit());
    assertTrue(bad.err().contains("vit"), bad.err());
    assertFalse(Files.exists(tmp.resolve("vit")));
  }

  @Test
  void toolTemplateFlagWritesTheRealTemplateAndItsSpecialTokens() throws Exception {
    Path llama = tmp.resolve("llama");
    Path mistral = tmp.resolve("mistral");
    Cli.Run made = Cli.run("make-tiny", "--tool-template", "llama3.1", "--out", llama.toString());
    assertEquals(0, made.exit(), made.err());
    assertTrue(made.err().contains("llama3.1 tool template"), made.err());
    assertEquals(
        0,
        Cli.run("make-tiny", "--tool-template", "mistral-v0.3", "--out", mistral.toString())
            .exit());

    Tokenizer llamaTokens =
        TokenizerLoader.load(
            llama.resolve("tokenizer.json"), llama.resolve("tokenizer_config.json"));
    int eom = llamaTokens.tokenId("<|eom_id|>").orElseThrow();
    assertEquals(llamaTokens.tokenId("<|eot_id|>").orElseThrow(), llamaTokens.eosId());
    assertEquals(llamaTokens.tokenId("<|begin_of_text|>").orElseThrow(), llamaTokens.bosId());
    assertTrue(llamaTokens.isSpecial(llamaTokens.tokenId("<|python_tag|>").orElseThrow()));
    assertTrue(eom < TinySpec.tiny().vocabSize());
    ChatTemplate llamaTemplate =
        ChatTemplate.forCheckpoint(
            llama.resolve("tokenizer_config.json"), llama.resolve("chat_template.json"));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.LLAMA3_JSON, ToolCallIds.OPENAI, Set.of(eom), true),
        ToolCallSyntax.detect(llamaTemplate, llamaTokens));
    assertTrue(
        Files.readString(llama.resolve("chat_template.json")).contains("Environment: ipython"));

    Tokenizer mistralTokens =
        TokenizerLoader.load(
            mistral.resolve("tokenizer.json"), mistral.resolve("tokenizer_config.json"));
    int[] ids = mistralTokens.encode("[INST] hi[/INST][TOOL_CALLS]", false);
    assertEquals(mistralTokens.tokenId("[INST]").orElseThrow(), ids[0]);
    assertEquals(mistralTokens.tokenId("[TOOL_CALLS]").orElseThrow(), ids[ids.length - 1]);
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL, ToolCallIds.MISTRAL, Set.of(), true),
        ToolCallSyntax.detect(
            ChatTemplate.forCheckpoint(
                mistral.resolve("tokenizer_config.json"), mistral.resolve("chat_template.json")),
            mistralTokens));

    Cli.Run bad =
        Cli.run("make-tiny", "--tool-template", "gemma", "--out", tmp.resolve("g").toString());
    assertNotEquals(0, bad.exit());
    assertTrue(bad.err().contains("gemma"), bad.err());
    assertTrue(bad.err().contains("mistral-v11"), bad.err());
  }

  @Test
  void toolTemplatesInTheNewFormatsAreReadAsThoseFormats() throws Exception {
    Path v11 = tmp.resolve("mistral-v11");
    Path pythonic = tmp.resolve("llama3.2");
    assertEquals(
        0, Cli.run("make-tiny", "--tool-template", "mistral-v11", "--out", v11.toString()).exit());
    assertEquals(
        0,
        Cli.run("make-tiny", "--tool-template", "llama3.2", "--out", pythonic.toString()).exit());

    Tokenizer v11Tokens =
        TokenizerLoader.load(v11.resolve("tokenizer.json"), v11.resolve("tokenizer_config.json"));
    int[] ids = v11Tokens.encode("[TOOL_CALLS]get_time[CALL_ID]abc[ARGS]{}", false);
    assertEquals(v11Tokens.tokenId("[TOOL_CALLS]").orElseThrow(), ids[0]);
    for (String marker : List.of("[ARGS]", "[CALL_ID]", "[SYSTEM_PROMPT]")) {
      int id = v11Tokens.tokenId(marker).orElseThrow();
      assertTrue(v11Tokens.isSpecial(id), marker);
      assertTrue(id < TinySpec.tiny().vocabSize(), marker);
    }
    assertTrue(
        java.util.Arrays.stream(ids).anyMatch(i -> i == v11Tokens.tokenId("[ARGS]").orElseThrow()));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL_V11, ToolCallIds.MISTRAL, Set.of(), true),
        ToolCallSyntax.detect(
            ChatTemplate.forCheckpoint(
                v11.resolve("tokenizer_config.json"), v11.resolve("chat_template.json")),
            v11Tokens));

    Tokenizer llamaTokens =
        TokenizerLoader.load(
            pythonic.resolve("tokenizer.json"), pythonic.resolve("tokenizer_config.json"));
    assertEquals(llamaTokens.tokenId("<|eot_id|>").orElseThrow(), llamaTokens.eosId());
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.PYTHONIC, ToolCallIds.OPENAI),
        ToolCallSyntax.detect(
            ChatTemplate.forCheckpoint(
                pythonic.resolve("tokenizer_config.json"), pythonic.resolve("chat_template.json")),
            llamaTokens));
  }

  @Test
  void badArgumentsExitNonZeroNamingThem() {
    Cli.Run noOut = Cli.run("make-tiny");
    assertNotEquals(0, noOut.exit());
    assertTrue(noOut.err().contains("--out"), noOut.err());

    Cli.Run badPreset =
        Cli.run("make-tiny", "--out", tmp.resolve("x").toString(), "--preset", "huge");
    assertNotEquals(0, badPreset.exit());
    assertTrue(badPreset.err().contains("huge"), badPreset.err());
    assertFalse(Files.exists(tmp.resolve("x")));
  }
}
