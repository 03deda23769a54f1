package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Picks the tokenizer a checkpoint's {@code tokenizer.json} describes: a BPE model with a ByteLevel
 * pre-tokenizer (Qwen2, GPT-2, LLaMA-3) is a {@link ByteLevelBpeTokenizer}; any other BPE model is
 * read as SentencePiece-style BPE by {@link LlamaTokenizer} (LLaMA, Vicuna, Mistral).
 */
public final class TokenizerLoader {

  private static final ObjectMapper JSON = new ObjectMapper();

  private TokenizerLoader() {}

  /**
   * Loads a tokenizer.
   *
   * @param tokenizerJson Hugging Face {@code tokenizer.json}
   * @param tokenizerConfigJson {@code tokenizer_config.json}; may be null or missing
   * @throws IllegalArgumentException naming the field of a tokenizer.json that cannot be served
   */
  public static Tokenizer load(Path tokenizerJson, Path tokenizerConfigJson) throws IOException {
    JsonNode tokenizer = JSON.readTree(tokenizerJson.toFile());
    String type = tokenizer.path("model").path("type").asText("");
    if (!type.equals("BPE")) {
      throw new IllegalArgumentException(
          tokenizerJson
              + ": model.type is '"
              + type
              + "'; only BPE (byte-level or SentencePiece-style) tokenizers are served");
    }
    if (!PreTokenizer.hasByteLevel(tokenizer.get("pre_tokenizer"))) {
      requireMetaspaceOnly(tokenizerJson, tokenizer.get("pre_tokenizer"), "pre_tokenizer");
      return LlamaTokenizer.load(tokenizerJson, tokenizerConfigJson);
    }
    JsonNode config =
        tokenizerConfigJson != null && Files.exists(tokenizerConfigJson)
            ? JSON.readTree(tokenizerConfigJson.toFile())
            : JSON.createObjectNode();
    try {
      return new ByteLevelBpeTokenizer(tokenizer, config);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(tokenizerJson + ": " + e.getMessage(), e);
    }
  }

  /** Without ByteLevel, the SentencePiece-style path serves only Metaspace pre-tokenizers. */
  private static void requireMetaspaceOnly(Path file, JsonNode node, String field) {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    if (type.equals("Sequence")) {
      JsonNode children = node.path("pretokenizers");
      for (int i = 0; i < children.size(); i++) {
        requireMetaspaceOnly(file, children.get(i), field + ".pretokenizers[" + i + "]");
      }
    } else if (!type.equals("Metaspace")) {
      throw new IllegalArgumentException(
          file
              + ": "
              + field
              + ".type is '"
              + type
              + "'; a BPE tokenizer is served with a ByteLevel pre-tokenizer (byte-level BPE) or"
              + " with none or Metaspace (SentencePiece-style BPE)");
    }
  }
}
