package io.llavaserve.engine.sampling.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Token masks from the trie walk against a token-by-token check, and the matcher's life. */
class TokenMasksTest {

  private static final int EOS = 0;

  /** A small vocabulary: id 0 is EOS, then JSON pieces, words, and the 256 byte tokens. */
  private static byte[][] vocabulary() {
    List<byte[]> v = new ArrayList<>();
    v.add(null);
    for (String s :
        new String[] {
          "{", "}", "{\"", "\":", "\"", "\",", "\"}", ",", ":", " ", "  ", "\n", "[", "]", "true",
          "tr", "ue", "null", "0", "1", "12", "-", ".", "e", "name", "age", "é", "€", " \"", "a",
          "\\", "n", "\\n", "}\n"
        }) {
      v.add(s.getBytes(StandardCharsets.UTF_8));
    }
    for (int b = 0; b < 256; b++) {
      v.add(new byte[] {(byte) b});
    }
    return v.toArray(new byte[0][]);
  }

  private static boolean allowedByBytes(GrammarAutomaton a, GrammarAutomaton.State s, byte[] t) {
    return t != null && a.walk(s, t) != GrammarAutomaton.DEAD;
  }

  @Test
  void theTrieWalkAllowsExactlyTheTokensWhoseBytesTheGrammarCanRead() throws Exception {
    byte[][] vocab = vocabulary();
    TokenTrie trie = TokenTrie.of(vocab);
    Grammar g =
        JsonSchemaGrammar.compile(
            RandomJson.JSON.readTree(
                "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                    + "\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"]}"),
            "s");
    GrammarAutomaton a = new GrammarAutomaton(g);
    TokenMasks masks = new TokenMasks(a, trie, EOS);
    SplittableRandom rnd = new SplittableRandom(7);
    int steps = 0;
    for (int run = 0; run < 40; run++) {
      GrammarMatcher m = new GrammarMatcher(masks);
      for (int step = 0; step < 60 && !m.isEnded(); step++) {
        GrammarAutomaton.State s = stateOf(m);
        TokenMask mask = m.allowed();
        List<Integer> allowed = new ArrayList<>();
        for (int id = 0; id < vocab.length; id++) {
          boolean expected = id == EOS ? s.accepting() : allowedByBytes(a, s, vocab[id]);
          assertEquals(expected, mask.allows(id), "token " + id + " at step " + step);
          if (expected) {
            allowed.add(id);
          }
        }
        assertFalse(allowed.isEmpty());
        m.accept(allowed.get(rnd.nextInt(allowed.size())));
        steps++;
      }
    }
    assertTrue(steps > 400);
  }

  @Test
  void aCharacterSplitOverByteTokensIsMatchedByteByByte() throws Exception {
    byte[][] vocab = vocabulary();
    TokenMasks masks =
        new TokenMasks(
            new GrammarAutomaton(
                JsonSchemaGrammar.compile(RandomJson.JSON.readTree("{\"type\":\"string\"}"), "s")),
            TokenTrie.of(vocab),
            EOS);
    GrammarMatcher m = new GrammarMatcher(masks);
    int quote = 5;
    int byteBase = vocab.length - 256;
    m.accept(quote);
    // "€" is E2 82 AC: after E2 only a continuation byte may follow, not a quote or ASCII.
    m.accept(byteBase + 0xE2);
    assertFalse(m.allowed().allows(quote));
    assertFalse(m.allowed().allows(byteBase + 'a'));
    assertTrue(m.allowed().allows(byteBase + 0x82));
    m.accept(byteBase + 0x82);
    m.accept(byteBase + 0xAC);
    assertFalse(m.isComplete());
    assertFalse(m.allowed().allows(EOS));
    m.accept(quote);
    assertTrue(m.isComplete());
    assertFalse(m.canContinue(), "a whole string admits only end-of-sequence");
    assertEquals(1, m.allowed().count());
    assertTrue(m.allowed().allows(EOS));
    m.accept(EOS);
    assertTrue(m.isEnded());
    assertThrows(IllegalStateException.class, () -> m.accept(quote));
  }

  @Test
  void aRecurringStateServesItsMaskFromTheCache() throws Exception {
    TokenMasks masks =
        new TokenMasks(
            new GrammarAutomaton(
                JsonSchemaGrammar.compile(RandomJson.JSON.readTree("{\"type\":\"string\"}"), "s")),
            TokenTrie.of(vocabulary()),
            EOS);
    GrammarMatcher m = new GrammarMatcher(masks);
    m.accept(5);
    for (int i = 0; i < 20; i++) {
      m.allowed();
      m.accept(30); // "a", inside the string: the same state every time
    }
    assertEquals(1, masks.computed(), "the mask inside the string is computed once");
  }

  @Test
  void theBundledTokenizerGivesSpacesForMetaspaceAndOneByteForByteTokens() {
    LlamaTokenizer t = LlamaTokenizer.bundledLlama();
    byte[] the = t.tokenBytes(t.tokenId("▁the").getAsInt());
    assertEquals(" the", new String(the, StandardCharsets.UTF_8));
    byte[] b = t.tokenBytes(t.tokenId("<0xE2>").getAsInt());
    assertEquals(1, b.length);
    assertEquals((byte) 0xE2, b[0]);
    assertEquals(null, t.tokenBytes(t.eosId()));
    TokenTrie trie = TokenTrie.of(t);
    assertTrue(trie.numNodes() > t.vocabSize() / 2);
  }

  private static GrammarAutomaton.State stateOf(GrammarMatcher m) throws Exception {
    var f = GrammarMatcher.class.getDeclaredField("state");
    f.setAccessible(true);
    return (GrammarAutomaton.State) f.get(m);
  }

  @Test
  void maskBitsAreLaidOutAsTheDeviceReadsThem() {
    int[] ids = {0, 7, 8, 63, 64, 70, 127, 200};
    TokenMask mask = TokenMask.allowing(ids);
    byte[] bits = new byte[2 + 32];
    java.util.Arrays.fill(bits, (byte) 0x5a);
    mask.writeBits(bits, 2, 251); // 32 bytes, the last holding ids 248..250
    assertEquals(0x5a, bits[0]);
    assertEquals(0x5a, bits[1]);
    for (int id = 0; id < 256; id++) {
      boolean set = id < 251 && (bits[2 + (id >> 3)] >> (id & 7) & 1) == 1;
      assertEquals(mask.allows(id), set, "id " + id);
    }
    assertEquals(ids.length, mask.count());
    assertFalse(mask.allows(201));
    assertThrows(IllegalArgumentException.class, () -> TokenMask.allowing(-1));
    assertThrows(IndexOutOfBoundsException.class, () -> mask.writeBits(new byte[3], 0, 64));
  }
}
