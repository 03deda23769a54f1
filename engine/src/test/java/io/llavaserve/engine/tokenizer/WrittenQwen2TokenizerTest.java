package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.prompt.PromptBuilder;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The byte-level tokenizer that make-tiny writes for a Qwen2 decoder ({@link Qwen2TokenizerFiles}),
 * read back by this server and checked against what transformers makes of the same folders ({@code
 * qwen2/written_fixtures.json}, written by {@code qwen2/make_written_fixtures.py}): the ids of
 * several hundred texts, decodes of random id sequences, the special ids, generation_config.json's
 * EOS ids, and the chat prompts of the tokenizer's and the processor's templates. Every learned
 * token also encodes back to itself, and every text decodes back to its NFC form.
 */
class WrittenQwen2TokenizerTest {

  @TempDir static Path dir;
  private static Map<String, Path> folders;
  private static JsonNode fixtures;

  @BeforeAll
  static void write() throws IOException {
    folders =
        Map.of(
            "onevision",
            TinyCheckpoint.write(dir.resolve("onevision"), TinySpec.onevision()),
            "siglip-qwen2",
            TinyCheckpoint.write(dir.resolve("siglip-qwen2"), TinySpec.siglipQwen2()));
    fixtures =
        new ObjectMapper()
            .readTree(
                Qwen2Fixtures.dir(Qwen2Fixtures.QWEN2).resolve("written_fixtures.json").toFile());
  }

  @ParameterizedTest
  @ValueSource(strings = {"onevision", "siglip-qwen2"})
  void theFixturesWereMadeFromTheseVeryFiles(String preset) throws Exception {
    byte[] digest =
        MessageDigest.getInstance("SHA-256")
            .digest(Files.readAllBytes(folders.get(preset).resolve("tokenizer.json")));

    assertEquals(
        fixture(preset).get("tokenizer_sha256").asText(),
        HexFormat.of().formatHex(digest),
        "tokenizer.json changed: regenerate qwen2/written_fixtures.json (see qwen2/README.md)");
  }

  @ParameterizedTest
  @ValueSource(strings = {"onevision", "siglip-qwen2"})
  void everyTextEncodesToTheIdsTransformersGives(String preset) throws IOException {
    Tokenizer tok = load(preset);
    JsonNode encodes = fixture(preset).get("encodes");
    List<String> failures = new ArrayList<>();
    for (JsonNode c : encodes) {
      String text = c.get("text").asText();
      int[] want = Qwen2Fixtures.ints(c.get("ids"));
      int[] got = tok.encode(text);
      if (!Arrays.equals(want, got)) {
        failures.add(
            ByteLevelBpeFixturesTest.quote(text)
                + " expected "
                + Arrays.toString(want)
                + " got "
                + Arrays.toString(got));
      }
    }
    assertTrue(encodes.size() > 300, "fixture has " + encodes.size() + " texts");
    assertEquals(List.of(), failures, failures.size() + " of " + encodes.size() + " differ");
  }

  @ParameterizedTest
  @ValueSource(strings = {"onevision", "siglip-qwen2"})
  void everyIdSequenceDecodesAsTransformersDoesWholeAndStreamed(String preset) throws IOException {
    Tokenizer tok = load(preset);
    List<String> failures = new ArrayList<>();
    int checked = 0;
    for (JsonNode c : fixture(preset).get("decodes")) {
      int[] ids = Qwen2Fixtures.ints(c.get("ids"));
      for (boolean skip : new boolean[] {false, true}) {
        String want = c.get(skip ? "decoded_skipping_special" : "decoded").asText();
        String whole = tok.decode(ids, skip);
        String streamed = ByteLevelBpeFixturesTest.stream(tok, ids, skip);
        if (!want.equals(whole) || !want.equals(streamed)) {
          failures.add(Arrays.toString(ids) + " skip=" + skip + " got " + whole + " / " + streamed);
        }
        checked++;
      }
    }
    assertEquals(300, checked);
    assertEquals(List.of(), failures, failures.size() + " of " + checked + " differ");
  }

  @ParameterizedTest
  @ValueSource(strings = {"onevision", "siglip-qwen2"})
  void theSpecialIdsAreTheOnesTransformersAndTheConfigsName(String preset) throws IOException {
    Tokenizer tok = load(preset);
    JsonNode f = fixture(preset);
    Path folder = folders.get(preset);
    JsonNode config = new ObjectMapper().readTree(folder.resolve("config.json").toFile());
    JsonNode generation =
        new ObjectMapper().readTree(folder.resolve("generation_config.json").toFile());

    f.get("special_ids")
        .fields()
        .forEachRemaining(e -> assertEquals(e.getValue().asInt(), id(tok, e.getKey()), e.getKey()));
    assertEquals(f.get("len").asInt(), tok.vocabSize());
    assertEquals(-1, tok.bosId());
    assertEquals(f.get("eos_token_id").asInt(), tok.eosId());
    assertEquals(id(tok, Qwen2TokenizerFiles.IM_END), tok.eosId(), "the model stops on <|im_end|>");
    assertEquals(config.get("image_token_index").asInt(), id(tok, Qwen2TokenizerFiles.IMAGE));
    assertEquals(f.get("image_token_id").asInt(), config.get("image_token_index").asInt());
    JsonNode video = f.get("video_token_id");
    if (video.isNull()) {
      assertTrue(config.path("video_token_index").isMissingNode(), "a llava config has no video");
    } else {
      assertEquals(video.asInt(), config.get("video_token_index").asInt());
      assertEquals(video.asInt(), id(tok, Qwen2TokenizerFiles.VIDEO));
    }
    assertEquals(f.get("pad_token_id").asInt(), config.get("pad_token_id").asInt());
    assertEquals(f.get("generation_eos_token_id"), generation.get("eos_token_id"));
    assertEquals(
        List.of(id(tok, Qwen2TokenizerFiles.IM_END), id(tok, Qwen2TokenizerFiles.END_OF_TEXT)),
        new ObjectMapper().convertValue(generation.get("eos_token_id"), List.class));
    assertTrue(tok.isSpecial(id(tok, Qwen2TokenizerFiles.IMAGE)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"onevision", "siglip-qwen2"})
  void chatPromptsRenderAndTokenizeAsTransformersRendersThem(String preset) throws IOException {
    Path folder = folders.get(preset);
    Tokenizer tok = load(preset);
    ChatTemplate processor =
        ChatTemplate.forCheckpoint(
            folder.resolve("tokenizer_config.json"), folder.resolve(Checkpoint.CHAT_TEMPLATE));
    ChatTemplate tokenizer =
        ChatTemplate.forCheckpoint(folder.resolve("tokenizer_config.json"), null);
    int checked = 0;
    for (JsonNode c : fixture(preset).get("chats")) {
      ChatTemplate template =
          c.get("template").asText().equals("processor") ? processor : tokenizer;
      List<ChatMessage> messages = messages(c.get("messages"));
      boolean generation = c.get("add_generation_prompt").asBoolean();
      String prompt = template.render(messages, generation);
      int images = messages.stream().mapToInt(ChatMessage::imageCount).sum();
      PromptBuilder.Prompt ids =
          PromptBuilder.build(tok, template, messages, id(tok, "<image>"), generation);

      assertEquals(c.get("prompt").asText(), prompt, c.get("messages").toString());
      assertArrayEquals(Qwen2Fixtures.ints(c.get("ids")), ids.ids(), prompt);
      assertEquals(images, ids.imageCount());
      checked++;
    }
    assertTrue(checked >= 20, "checked " + checked);
  }

  @Test
  void everyLearnedTokenThatIsWholeTextEncodesBackToItself() throws IOException {
    Tokenizer tok = load("onevision");
    int endOfText = id(tok, Qwen2TokenizerFiles.END_OF_TEXT);
    var utf8 =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    List<String> failures = new ArrayList<>();
    int whole = 0;
    for (int id = 0; id < endOfText; id++) {
      try {
        utf8.decode(java.nio.ByteBuffer.wrap(tok.tokenBytes(id)));
      } catch (CharacterCodingException e) {
        continue; // part of a character; only whole text can be encoded
      }
      whole++;
      int[] again = tok.encode(tok.decode(new int[] {id}, false));
      if (!Arrays.equals(new int[] {id}, again)) {
        failures.add(id + " -> " + Arrays.toString(again));
      }
    }
    assertTrue(whole > 20_000, "only " + whole + " learned tokens are whole text");
    assertEquals(List.of(), failures);
  }

  @ParameterizedTest
  @ValueSource(strings = {"onevision", "siglip-qwen2"})
  void everyTextDecodesBackToItsNfcForm(String preset) throws IOException {
    Tokenizer tok = load(preset);
    for (JsonNode c : fixture(preset).get("encodes")) {
      String text = c.get("text").asText();
      assertEquals(
          Normalizer.normalize(text, Normalizer.Form.NFC),
          tok.decode(tok.encode(text), false),
          ByteLevelBpeFixturesTest.quote(text));
    }
  }

  @Test
  void aQwen2DecoderOfQwen2sOwnWidthTakesQwen2sSpecialIds() {
    TinySpec half = TinySpec.qwen2Half();
    Qwen2TokenizerFiles.Layout layout = half.qwen2Layout();

    assertEquals(151643, layout.endOfText());
    assertEquals(151644, layout.imStart());
    assertEquals(151645, layout.imEnd());
    assertEquals(151646, layout.image());
    assertEquals(151646, half.toConfig().imageTokenIndex());
    assertEquals(151643, half.toConfig().padTokenId());
    assertEquals(32000, TinySpec.onevision().toConfig().imageTokenIndex());
    assertEquals(32001, TinySpec.onevision().qwen2Layout().video());
    assertEquals(TinySpec.PAD_TOKEN_ID, TinySpec.tiny().toConfig().padTokenId());
  }

  private static List<ChatMessage> messages(JsonNode array) {
    List<ChatMessage> out = new ArrayList<>();
    for (JsonNode m : array) {
      String role = m.get("role").asText();
      JsonNode content = m.get("content");
      if (content.isTextual()) {
        out.add(ChatMessage.text(role, content.asText()));
        continue;
      }
      List<ContentPart> parts = new ArrayList<>();
      for (JsonNode p : content) {
        parts.add(
            p.get("type").asText().equals("image")
                ? new ContentPart.Image()
                : new ContentPart.Text(p.get("text").asText()));
      }
      out.add(new ChatMessage(role, parts));
    }
    return out;
  }

  private static JsonNode fixture(String preset) {
    return fixtures.get(preset);
  }

  private static Tokenizer load(String preset) throws IOException {
    Path folder = folders.get(preset);
    return TokenizerLoader.load(
        folder.resolve("tokenizer.json"), folder.resolve("tokenizer_config.json"));
  }

  private static int id(Tokenizer tok, String token) {
    return tok.tokenId(token).orElseThrow(() -> new AssertionError("no id for " + token));
  }
}
