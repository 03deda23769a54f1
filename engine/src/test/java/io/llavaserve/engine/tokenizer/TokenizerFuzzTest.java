package io.llavaserve.engine.tokenizer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * The bundled LLaMA tokenizer on arbitrary input: any ids in the vocabulary decode, in one call and
 * token by token, without an exception, and the two agree; any text encodes to ids in the
 * vocabulary.
 */
class TokenizerFuzzTest {

  private static final LlamaTokenizer TOKENIZER = LlamaTokenizer.bundledLlama();

  @FuzzTest(maxDuration = "10m")
  void decodeAnyIds(FuzzedDataProvider data) {
    boolean skipSpecial = data.consumeBoolean();
    int[] ids = new int[data.consumeInt(0, 64)];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = data.consumeInt(0, TOKENIZER.vocabSize() - 1);
    }
    String whole = TOKENIZER.decode(ids, skipSpecial);
    IncrementalDetokenizer step = TOKENIZER.newDetokenizer(skipSpecial);
    StringBuilder streamed = new StringBuilder();
    for (int id : ids) {
      streamed.append(step.next(id));
    }
    streamed.append(step.flush());
    if (!whole.contentEquals(streamed)) {
      throw new AssertionError("decode '" + whole + "' but streamed '" + streamed + "'");
    }
  }

  @FuzzTest(maxDuration = "10m")
  void encodeAnyText(FuzzedDataProvider data) {
    String text = data.consumeRemainingAsString();
    for (int id : TOKENIZER.encode(text, false)) {
      if (id < 0 || id >= TOKENIZER.vocabSize()) {
        throw new AssertionError("id " + id + " outside the vocabulary for '" + text + "'");
      }
    }
  }
}
