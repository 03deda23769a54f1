package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Rules of HF's byte-level BPE checked on small hand-built files, and the Qwen2 test file. */
class ByteLevelBpeTokenizerTest {

  private static final Tokenizer QWEN2 = Qwen2Fixtures.load(Qwen2Fixtures.QWEN2);

  @Test
  void theLowestRankedMergeWinsWhereverItIs() {
    ByteLevelFiles f = new ByteLevelFiles();
    int ab = f.merge("a", "b");
    f.merge("b", "c");
    assertArrayEquals(new int[] {ab, 'c'}, f.tokenizer().encode("abc"));

    ByteLevelFiles g = new ByteLevelFiles();
    int bc = g.merge("b", "c");
    g.merge("a", "b");
    assertArrayEquals(new int[] {'a', bc}, g.tokenizer().encode("abc"));
  }

  @Test
  void equalRanksMergeLeftmostFirstAndMergesChain() {
    ByteLevelFiles f = new ByteLevelFiles();
    int aa = f.merge("a", "a");
    int aaaa = f.merge("aa", "aa");
    assertArrayEquals(new int[] {aa, 'a'}, f.tokenizer().encode("aaa"));
    assertArrayEquals(new int[] {aaaa, aa, 'a'}, f.tokenizer().encode("aaaaaaa"));
  }

  @Test
  void mergesWrittenAsPairsReadLikeMergesWrittenAsStrings() {
    ByteLevelFiles f = new ByteLevelFiles();
    f.merge("Ġ", "t");
    f.merge("h", "e");
    f.merge("Ġt", "he");
    int[] strings = f.tokenizer().encode("the the");
    ArrayNode pairs = ByteLevelFiles.JSON.createArrayNode();
    f.merges.forEach(
        m -> pairs.addArray().add(m.asText().split(" ")[0]).add(m.asText().split(" ")[1]));
    ((ObjectNode) f.root.get("model")).set("merges", pairs);
    assertArrayEquals(strings, f.tokenizer().encode("the the"));
    assertEquals(3, strings.length); // "t" "he" "Ġthe"
  }

  @Test
  void ignoreMergesTakesAWholeWordThatIsInTheVocabulary() {
    ByteLevelFiles f = new ByteLevelFiles();
    int abc = f.piece("abc"); // no merge leads there
    assertArrayEquals(new int[] {'a', 'b', 'c'}, f.tokenizer().encode("abc"));
    ((ObjectNode) f.root.get("model")).put("ignore_merges", true);
    assertArrayEquals(new int[] {abc}, f.tokenizer().encode("abc"));
    assertArrayEquals(new int[] {'a', 'b'}, f.tokenizer().encode("ab"));
  }

  @Test
  void theSplitRegexIsTheFilesOwn() {
    ByteLevelFiles f = new ByteLevelFiles();
    int ab = f.merge("a", "b");
    int sab = f.merge("Ġ", "ab");
    assertArrayEquals(new int[] {ab, sab}, f.tokenizer().encode("ab ab"));
    // A file whose regex cuts before spaces differently gives different words.
    ((ObjectNode) f.root.at("/pre_tokenizer/pretokenizers/0/pattern")).put("Regex", "\\S+|\\s+");
    // (The space's symbol "Ġ" has id 32, its byte, in these files.)
    assertArrayEquals(new int[] {ab, ' ', ab}, f.tokenizer().encode("ab ab"));
  }

  @Test
  void addedTokensAreFoundLeftmostLongestBeforeAnyBpe() {
    ByteLevelFiles f = new ByteLevelFiles();
    int ab = f.merge("a", "b");
    int imStart = f.special("<|im_start|>");
    int im = f.addedToken("<|im", false, false, false, false, false);
    int abToken = f.special("ba");
    Tokenizer tok = f.tokenizer();
    assertArrayEquals(new int[] {imStart}, tok.encode("<|im_start|>"));
    assertArrayEquals(new int[] {im, 'x'}, tok.encode("<|imx"));
    // "ba" is cut out of the raw text first, so BPE never sees "ab" across it.
    assertArrayEquals(new int[] {'a', abToken, ab}, tok.encode("abaab"));
  }

  @Test
  void aSingleWordTokenTouchingAWordCharacterIsPassedOverAndTheSearchResumesAfterIt() {
    ByteLevelFiles f = new ByteLevelFiles();
    int hello = f.addedToken("hello", false, false, false, false, true);
    int o = f.addedToken("o", false, false, false, false, false);
    Tokenizer tok = f.tokenizer();
    assertArrayEquals(new int[] {hello}, tok.encode("hello"));
    assertArrayEquals(new int[] {'(', hello, ')'}, tok.encode("(hello)"));
    // Inside a word (letters, digits, "_" and other Unicode word characters) it is not the token,
    // and, as with HF's automaton, the "o" inside the skipped match is not looked at again.
    for (String text : new String[] {"sayhello", "hello_", "hello2", "éhello"}) {
      int[] ids = tok.encode(text);
      assertFalse(Arrays.stream(ids).anyMatch(i -> i == hello || i == o), text);
      assertEquals(text, tok.decode(ids, false));
    }
    assertArrayEquals(new int[] {'x', o}, tok.encode("xo"));
  }

  @Test
  void lstripAndRstripSwallowUnicodeWhitespaceBesideTheToken() {
    ByteLevelFiles f = new ByteLevelFiles();
    int mask = f.addedToken("<mask>", true, false, true, false, false);
    int sep = f.addedToken("<sep>", true, false, false, true, false);
    int nbsp = f.addedToken("\u00a0nbsp", false, false, false, false, false);
    Tokenizer tok = f.tokenizer();
    assertArrayEquals(new int[] {'a', mask}, tok.encode("a \u3000\t<mask>"));
    assertArrayEquals(new int[] {sep, 'x'}, tok.encode("<sep>\u2028 \nx"));
    assertArrayEquals(new int[] {sep, mask}, tok.encode("<sep>   <mask>"));
    // The rstrip of <sep> takes the no-break space, yet the token starting with it was already
    // found there and is kept (tokenizers.js drops it, the Rust crate does not).
    assertArrayEquals(new int[] {sep, nbsp}, tok.encode("<sep>\u00a0nbsp"));
  }

  @Test
  void aNormalizedTokenIsFoundInTheNormalizedText() {
    ByteLevelFiles f = new ByteLevelFiles();
    int uber = f.addedToken("\u01d8ber", false, true, false, false, false);
    Tokenizer tok = f.tokenizer();
    assertArrayEquals(new int[] {uber}, tok.encode("u\u0308\u0301ber"));
    assertArrayEquals(new int[] {'x', uber}, tok.encode("x\u01d8ber"));

    ByteLevelFiles raw = new ByteLevelFiles();
    int rawUber = raw.addedToken("\u01d8ber", false, false, false, false, false);
    int[] ids = raw.tokenizer().encode("u\u0308\u0301ber");
    assertFalse(Arrays.stream(ids).anyMatch(i -> i == rawUber));
  }

  @Test
  void anAddedTokenWrittenInByteSymbolsDecodesAsTheBytesTheyStandFor() {
    // HF's ByteLevel decoder maps every token, added ones too: "café" has é = byte 0xE9, which
    // alone is not UTF-8.
    ByteLevelFiles f = new ByteLevelFiles();
    int cafe = f.addedToken("café", false, false, false, false, false);
    assertEquals("caf\uFFFD", f.tokenizer().decode(new int[] {cafe}, false));
  }

  @Test
  void qwen2AddsNoBosAndEndsChatTurnsWithImEnd() {
    int imEnd = QWEN2.tokenId("<|im_end|>").getAsInt();
    assertEquals(-1, QWEN2.bosId());
    assertEquals(imEnd, QWEN2.eosId());
    assertArrayEquals(QWEN2.encode("Hello world", false), QWEN2.encode("Hello world"));
    assertTrue(QWEN2.isSpecial(imEnd));
    assertFalse(QWEN2.isSpecial(QWEN2.tokenId("<tool_call>").getAsInt()));
    assertEquals(3256 + 11, QWEN2.vocabSize());
    assertEquals("Ġ", QWEN2.tokenPiece(QWEN2.tokenId("Ġ").getAsInt()));
    assertEquals("<image>", QWEN2.tokenPiece(QWEN2.tokenId("<image>").getAsInt()));

    int[] ids = QWEN2.encode("<|im_start|>user\n<image>\nHi<|im_end|>");
    assertEquals(QWEN2.tokenId("<|im_start|>").getAsInt(), ids[0]);
    assertEquals(imEnd, ids[ids.length - 1]);
    assertEquals("<|im_start|>user\n<image>\nHi<|im_end|>", QWEN2.decode(ids, false));
    assertEquals("user\n\nHi", QWEN2.decode(ids, true));
  }

  @Test
  void aTemplatePostProcessorPutsItsTokensAroundTheText() {
    Tokenizer flags = Qwen2Fixtures.load(Qwen2Fixtures.FLAGS);
    int bos = flags.tokenId("<|bos|>").getAsInt();
    assertEquals(bos, flags.bosId());
    assertEquals(flags.tokenId("<|endoftext|>").getAsInt(), flags.eosId());
    int[] with = flags.encode("hi");
    int[] without = flags.encode("hi", false);
    assertEquals(without.length + 1, with.length);
    assertEquals(bos, with[0]);
  }

  @Test
  void streamingNeverEmitsHalfACharacter() {
    // "😀" as its four single-byte tokens: nothing until the fourth.
    int[] bytes = {0xF0, 0x9F, 0x98, 0x80};
    IncrementalDetokenizer d = QWEN2.newDetokenizer(false);
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < bytes.length; i++) {
      String chunk = d.next(byteId(bytes[i]));
      assertEquals(i < 3 ? "" : "😀", chunk);
      out.append(chunk);
    }
    assertEquals("", d.flush());

    // An invalid byte ends the wait; an unfinished character at the end becomes one U+FFFD.
    IncrementalDetokenizer e = QWEN2.newDetokenizer(false);
    assertEquals("", e.next(byteId(0xE4)));
    assertEquals("\uFFFDA", e.next(byteId('A')));
    assertEquals("", e.next(byteId(0xF0)));
    assertEquals("", e.next(byteId(0x9F)));
    assertEquals("\uFFFD", e.flush());
  }

  @Test
  void streamedTextIsTheWholeDecodeForEveryPrefixOfMixedText() {
    String text = "日本語 😀👨‍👩‍👧 <image>\nabc\r\n  \u00e9\u0301 <|im_end|>";
    int[] ids = QWEN2.encode(text);
    for (boolean skip : new boolean[] {false, true}) {
      IncrementalDetokenizer d = QWEN2.newDetokenizer(skip);
      StringBuilder streamed = new StringBuilder();
      for (int i = 0; i < ids.length; i++) {
        String chunk = d.next(ids[i]);
        assertFalse(chunk.contains("\uFFFD"), "chunk " + i);
        assertFalse(
            !chunk.isEmpty() && Character.isHighSurrogate(chunk.charAt(chunk.length() - 1)));
        streamed.append(chunk);
        assertTrue(
            QWEN2.decode(Arrays.copyOf(ids, i + 1), skip).startsWith(streamed.toString()),
            "prefix " + i);
      }
      streamed.append(d.flush());
      assertEquals(QWEN2.decode(ids, skip), streamed.toString());
    }
  }

  @Test
  void tokenBytesJoinBackToTheTextForConstrainedDecoding() {
    String text = "Naïve café: 3 × 4 = 12 — 你好 😀 <image>";
    java.io.ByteArrayOutputStream joined = new java.io.ByteArrayOutputStream();
    for (int id : QWEN2.encode(text, false)) {
      byte[] b = QWEN2.tokenBytes(id);
      if (b == null) {
        assertTrue(QWEN2.tokenPiece(id).equals("<image>"), "only the added token has no bytes");
        joined.writeBytes("<image>".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      } else {
        joined.writeBytes(b);
      }
    }
    assertEquals(text, joined.toString(java.nio.charset.StandardCharsets.UTF_8));
    assertEquals(null, QWEN2.tokenBytes(QWEN2.eosId()), "special tokens are never matched");
  }

  private static int byteId(int b) {
    return QWEN2.tokenId(String.valueOf(ByteLevelAlphabet.symbol(b))).getAsInt();
  }

  @Test
  void theQwen2RegexCutsWhereHfCuts() {
    // Words, as HF's pre-tokenizer gives them for Qwen2's pattern (case-insensitive
    // contractions, single digits, whitespace before a word kept apart from it).
    PreTokenizer pre = PreTokenizer.fromJson(new ByteLevelFiles().root.get("pre_tokenizer"));
    assertEquals(
        java.util.List.of("I", "'M", "Ġsure", "Ġit", "'S", "Ġ", "1", "2", "3", "ĠĠ", "Ġok", "ĊĊ"),
        pre.words("I'M sure it'S 123   ok\n\n"));
    // \s+(?!\S) backs off one space so that the last one can lead the next word.
    assertEquals(java.util.List.of("ĉĠ", "Ġ(", "x", ")Ċ"), pre.words("\t  (x)\n"));
    // \s is Unicode's White_Space, as in Oniguruma: the ideographic space is whitespace, so the
    // last one leads the next word (with ASCII \s both would form one punctuation word).
    assertEquals(
        java.util.List.of(
            "a", ByteLevelAlphabet.encode("\u3000"), ByteLevelAlphabet.encode("\u3000b")),
        pre.words("a\u3000\u3000b"));
  }
}
