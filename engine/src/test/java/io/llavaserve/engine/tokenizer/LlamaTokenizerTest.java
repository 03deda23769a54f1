package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class LlamaTokenizerTest {

  private static final LlamaTokenizer TOK = LlamaTokenizer.bundledLlama();

  /**
   * Expected ids: the fixture README's known ids, llama-tokenizer-js's published cases ("grabbed"
   * and friends), the rest worked out by a separate Python SentencePiece-BPE script over the same
   * tokenizer.json.
   */
  static Stream<Arguments> knownIds() {
    return Stream.of(
        Arguments.of(
            "USER: <image>\nWhat", new int[] {1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618}),
        Arguments.of("", new int[] {1}),
        Arguments.of(" ", new int[] {1, 259}),
        Arguments.of("Hello world", new int[] {1, 15043, 3186}),
        Arguments.of("  leading", new int[] {1, 259, 8236}),
        Arguments.of(" trailing  ", new int[] {1, 29871, 25053, 259}),
        Arguments.of("a  b   c", new int[] {1, 263, 29871, 289, 259, 274}),
        Arguments.of("a\tb\n\nc", new int[] {1, 263, 12, 29890, 13, 13, 29883}),
        Arguments.of("x\r\ny", new int[] {1, 921, 30004, 13, 29891}),
        Arguments.of("\n", new int[] {1, 29871, 13}),
        Arguments.of("grabbed", new int[] {1, 2646, 1327, 287}),
        Arguments.of(" grabbed", new int[] {1, 29871, 2646, 1327, 287}),
        Arguments.of("           grabbed", new int[] {1, 9651, 2646, 1327, 287}),
        Arguments.of(
            "antidisestablishmentarianism",
            new int[] {1, 3677, 333, 275, 342, 370, 1674, 358, 13956, 1608}),
        // Emoji and a rare letter are not pieces: byte fallback, one id per UTF-8 byte.
        Arguments.of("🦙 llama", new int[] {1, 29871, 243, 162, 169, 156, 11148, 3304}),
        Arguments.of("😀😀", new int[] {1, 29871, 243, 162, 155, 131, 243, 162, 155, 131}),
        Arguments.of("Ḁ", new int[] {1, 29871, 228, 187, 131}),
        Arguments.of("你好，世界！", new int[] {1, 29871, 30919, 31076, 30214, 30793, 30967, 30584}),
        Arguments.of(
            "Ünïcödé façade naïve",
            new int[] {
              1, 7189, 29876, 30085, 29883, 9289, 29948, 2258, 30019, 1943, 1055, 30085, 345
            }),
        Arguments.of("\u00a0nbsp", new int[] {1, 20246, 14239}),
        // Added tokens written in the text are matched literally; each segment gets its own "▁".
        Arguments.of("<s>hi</s>", new int[] {1, 1, 7251, 2}),
        Arguments.of("x<image><image>y", new int[] {1, 921, 32000, 32000, 343}),
        Arguments.of("<image>", new int[] {1, 32000}),
        Arguments.of("<imag", new int[] {1, 529, 326, 351}),
        Arguments.of("<image >", new int[] {1, 529, 3027, 1405}),
        Arguments.of(
            "USER: <image>\nWhat is shown? ASSISTANT:",
            new int[] {
              1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 338, 4318, 29973, 319, 1799,
              9047, 13566, 29901
            }));
  }

  @ParameterizedTest
  @MethodSource("knownIds")
  void encodesLikeHuggingFace(String text, int[] expected) {
    assertArrayEquals(expected, TOK.encode(text), () -> "ids of " + text);
  }

  @Test
  void addSpecialTokensFalseOmitsBos() {
    assertArrayEquals(new int[] {15043, 3186}, TOK.encode("Hello world", false));
    assertArrayEquals(new int[0], TOK.encode("", false));
  }

  @Test
  void matchesPlainReferenceOnRandomTexts() throws Exception {
    ReferenceBpe reference = new ReferenceBpe();
    String[] alphabet = {
      "a", "b", "e", "t", "h", "th", "the", " ", "  ", "\n", "\t", "é", "ü", "日", "本", "😀", "🦙",
      "\u0301", "<image>", "<s>", "</s>", "<", ">", "ing", "tion", "1", "9", ".", ",", "Ḁ"
    };
    Random random = new Random(42);
    for (int n = 0; n < 300; n++) {
      StringBuilder text = new StringBuilder();
      int len = random.nextInt(30);
      for (int i = 0; i < len; i++) {
        text.append(alphabet[random.nextInt(alphabet.length)]);
      }
      String t = text.toString();
      assertArrayEquals(reference.encode(t), TOK.encode(t), () -> "ids of " + t);
    }
  }

  @Test
  void veryLongWordMatchesReference() throws Exception {
    String word = "supercalifragilisticexpialidocious".repeat(30);
    assertArrayEquals(new ReferenceBpe().encode(word), TOK.encode(word));
  }

  @Test
  void tenKilobytesTokenizeInMilliseconds() {
    StringBuilder text = new StringBuilder();
    Random random = new Random(7);
    String[] words = {"the", "quick", "brown", "fox", "jumps", "über", "日本", "😀", "\n", "lazy"};
    while (text.length() < 10_000) {
      text.append(words[random.nextInt(words.length)]).append(' ');
    }
    String t = text.toString();
    for (int i = 0; i < 5; i++) {
      TOK.encode(t); // warm up the JIT
    }
    long start = System.nanoTime();
    int[] ids = TOK.encode(t);
    long millis = (System.nanoTime() - start) / 1_000_000;
    assertTrue(ids.length > 2000, "ids: " + ids.length);
    // Generous for a shared 2-core machine; the quadratic reference takes seconds here.
    assertTrue(millis < 200, "10 KB took " + millis + " ms");
  }

  @Test
  void vocabularyAccessors() {
    assertEquals(32002, TOK.vocabSize());
    assertEquals(1, TOK.bosId());
    assertEquals(2, TOK.eosId());
    assertEquals(OptionalInt.of(32000), TOK.tokenId("<image>"));
    assertEquals(OptionalInt.of(29871), TOK.tokenId("\u2581"));
    assertEquals(OptionalInt.of(13), TOK.tokenId("<0x0A>"));
    assertEquals(OptionalInt.empty(), TOK.tokenId("not a piece"));
    assertEquals("<pad>", TOK.tokenPiece(32001));
    assertEquals("\u2581the", TOK.tokenPiece(278));
    assertEquals(null, TOK.tokenPiece(32002));
    assertTrue(TOK.isSpecial(0) && TOK.isSpecial(1) && TOK.isSpecial(2) && TOK.isSpecial(32000));
    assertFalse(TOK.isSpecial(278));
  }

  @Test
  void loadsFilesWrittenFromTheBundle(@TempDir Path dir) throws Exception {
    LlamaTokenizer.writeBundledLlamaFiles(dir);
    LlamaTokenizer loaded =
        LlamaTokenizer.load(dir.resolve("tokenizer.json"), dir.resolve("tokenizer_config.json"));
    assertArrayEquals(TOK.encode("USER: <image>\nWhat"), loaded.encode("USER: <image>\nWhat"));
    // Without a config, BOS comes from tokenizer.json's post_processor.
    LlamaTokenizer noConfig =
        LlamaTokenizer.load(dir.resolve("tokenizer.json"), dir.resolve("missing.json"));
    assertArrayEquals(new int[] {1, 15043}, noConfig.encode("Hello"));
  }

  @Test
  void configControlsBosAndEos(@TempDir Path dir) throws Exception {
    LlamaTokenizer.writeBundledLlamaFiles(dir);
    Path config = dir.resolve("tokenizer_config.json");
    Files.writeString(
        config, "{\"add_bos_token\": false, \"add_eos_token\": true, \"eos_token\": \"</s>\"}");
    LlamaTokenizer tok = LlamaTokenizer.load(dir.resolve("tokenizer.json"), config);
    assertArrayEquals(new int[] {15043, 2}, tok.encode("Hello"));
    assertArrayEquals(new int[] {15043}, tok.encode("Hello", false));
  }

  @Test
  void metaspacePreTokenizerPrefixesOnlyTheFirstSegment(@TempDir Path dir) throws Exception {
    // Newer conversions (legacy=false) drop the normalizer for a Metaspace pre-tokenizer with
    // prepend_scheme "first": no "▁" after an added token, and no doubled "▁" before a space.
    LlamaTokenizer.writeBundledLlamaFiles(dir);
    Path json = dir.resolve("tokenizer.json");
    String text = Files.readString(json);
    String metaspace =
        "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\":"
            + " \"\u2581\", \"prepend_scheme\": \"first\", \"split\": false}, \"post_processor\"";
    text = text.replaceFirst("(?s)\"normalizer\":.*?\"post_processor\"", metaspace);
    Files.writeString(json, text);
    LlamaTokenizer tok = LlamaTokenizer.load(json, dir.resolve("tokenizer_config.json"));
    assertArrayEquals(
        new int[] {1, 3148, 1001, 29901, 29871, 32000, 13, 5618},
        tok.encode("USER: <image>\nWhat"));
    assertArrayEquals(new int[] {1, 15043}, tok.encode(" Hello"));
    assertArrayEquals(new int[] {1, 29871, 15043}, TOK.encode(" Hello"));
  }
}
