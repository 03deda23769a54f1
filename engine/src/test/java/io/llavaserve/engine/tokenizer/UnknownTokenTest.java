package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tiny vocabulary without byte fallback: unknown characters become {@code <unk>}. */
class UnknownTokenTest {

  private static final String TOKENIZER =
      """
      {"added_tokens": [],
       "normalizer": {"type": "Sequence", "normalizers": [
         {"type": "Prepend", "prepend": "\u2581"},
         {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
       "pre_tokenizer": null, "post_processor": null, "decoder": null,
       "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": %s, "byte_fallback": false,
         "vocab": {"<unk>": 0, "\u2581": 1, "a": 2, "b": 3, "ab": 4, "\u2581ab": 5},
         "merges": [["a", "b"], ["\u2581", "ab"]]}}
      """;

  private static LlamaTokenizer load(Path dir, boolean fuseUnk) throws Exception {
    Path json = dir.resolve("tokenizer-" + fuseUnk + ".json");
    Files.writeString(json, TOKENIZER.formatted(fuseUnk));
    return LlamaTokenizer.load(json, null);
  }

  @Test
  void fusesRunsOfUnknownCharactersWhenAsked(@TempDir Path dir) throws Exception {
    // "▁abxyab": ▁ a b ? ? a b -> both "ab" merge first (rank 0), then "▁ab" (rank 1).
    assertArrayEquals(new int[] {5, 0, 4}, load(dir, true).encode("abxyab"));
    assertArrayEquals(new int[] {5, 0, 0, 4}, load(dir, false).encode("abxyab"));
  }

  @Test
  void withoutBosOrDecoderHfDefaultsApply(@TempDir Path dir) throws Exception {
    LlamaTokenizer tok = load(dir, true);
    assertEquals(-1, tok.bosId());
    assertEquals(-1, tok.eosId());
    // No decoder in the file: HF joins the token strings with spaces.
    assertEquals("\u2581ab <unk> ab", tok.decode(new int[] {5, 0, 4}, false));
    assertEquals(6, tok.vocabSize());
  }
}
