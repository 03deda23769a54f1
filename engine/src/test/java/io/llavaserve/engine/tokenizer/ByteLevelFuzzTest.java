package io.llavaserve.engine.tokenizer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.text.Normalizer;

/**
 * The Qwen2-format test tokenizer on arbitrary input: any ids decode alike in one call and token by
 * token; any well-formed text encodes to ids that decode back to the text's NFC form (byte-level
 * BPE loses nothing, and none of Qwen2's added tokens strips whitespace).
 */
class ByteLevelFuzzTest {

  private static final Tokenizer TOKENIZER = Qwen2Fixtures.load(Qwen2Fixtures.QWEN2);

  @FuzzTest(maxDuration = "10m")
  void decodeAnyIds(FuzzedDataProvider data) {
    boolean skipSpecial = data.consumeBoolean();
    int[] ids = new int[data.consumeInt(0, 64)];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = data.consumeInt(0, TOKENIZER.vocabSize() - 1);
    }
    String whole = TOKENIZER.decode(ids, skipSpecial);
    String streamed = ByteLevelBpeFixturesTest.stream(TOKENIZER, ids, skipSpecial);
    if (!whole.equals(streamed)) {
      throw new AssertionError("decode '" + whole + "' but streamed '" + streamed + "'");
    }
  }

  @FuzzTest(maxDuration = "10m")
  void encodeAnyTextAndDecodeItBack(FuzzedDataProvider data) {
    String text = data.consumeRemainingAsString();
    if (text == null || !wellFormed(text)) {
      return; // a lone surrogate has no UTF-8 bytes to tokenize
    }
    int[] ids = TOKENIZER.encode(text);
    for (int id : ids) {
      if (id < 0 || id >= TOKENIZER.vocabSize()) {
        throw new AssertionError("id " + id + " outside the vocabulary for '" + text + "'");
      }
    }
    String back = TOKENIZER.decode(ids, false);
    if (!back.equals(Normalizer.normalize(text, Normalizer.Form.NFC))) {
      throw new AssertionError("'" + text + "' decoded back as '" + back + "'");
    }
  }

  private static boolean wellFormed(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) {
          return false;
        }
        i++;
      } else if (Character.isLowSurrogate(c)) {
        return false;
      }
    }
    return true;
  }
}
