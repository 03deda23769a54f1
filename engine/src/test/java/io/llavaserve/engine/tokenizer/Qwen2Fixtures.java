package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Path;

/**
 * The Qwen2-format test tokenizers under {@code qwen2/} (see its {@code make_tokenizer.py}) and the
 * fixtures Hugging Face's JavaScript tokenizers computed for them ({@code make_fixtures.mjs}).
 */
final class Qwen2Fixtures {

  /** Qwen2's layout: NFC, Split + ByteLevel, ByteLevel post-processor, "a b" merges. */
  static final String QWEN2 = "qwen2";

  /** Same vocabulary with [a, b] merges, ignore_merges, a BOS template, flagged added tokens. */
  static final String FLAGS = "qwen2/flags";

  private Qwen2Fixtures() {}

  static Path dir(String name) {
    try {
      return Path.of(Qwen2Fixtures.class.getResource(name + "/tokenizer.json").toURI()).getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static Tokenizer load(String name) {
    Path dir = dir(name);
    try {
      return TokenizerLoader.load(
          dir.resolve("tokenizer.json"), dir.resolve("tokenizer_config.json"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode fixtures(String name) {
    try {
      return new ObjectMapper().readTree(dir(name).resolve("fixtures.json").toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
