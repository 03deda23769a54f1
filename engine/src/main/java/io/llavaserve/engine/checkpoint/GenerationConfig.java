package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * What a checkpoint's {@code generation_config.json} says about ending an answer: its {@code
 * eos_token_id}, one id or a list. Qwen2 checkpoints list both {@code <|im_end|>} and {@code
 * <|endoftext|>} there while their tokenizer names only one EOS; transformers' {@code generate} and
 * vLLM stop on every id listed, so the server does too.
 *
 * @param eosTokenIds the ids listed, in file order; empty when the file or the field is absent
 */
public record GenerationConfig(Set<Integer> eosTokenIds) {

  public static final String FILE = "generation_config.json";

  /** A checkpoint without the file: nothing beyond the tokenizer's own EOS. */
  public static final GenerationConfig NONE = new GenerationConfig(Set.of());

  public GenerationConfig {
    eosTokenIds = java.util.Collections.unmodifiableSet(new LinkedHashSet<>(eosTokenIds));
  }

  /**
   * Reads {@code generation_config.json} in {@code dir}, or {@link #NONE} when there is none.
   *
   * @param vocabSize ids must lie below it
   * @throws CheckpointException when the file is not JSON or {@code eos_token_id} is not an id or a
   *     list of ids inside the vocabulary
   */
  public static GenerationConfig read(Path dir, int vocabSize) throws CheckpointException {
    Path file = dir.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      return NONE;
    }
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new CheckpointException(file + ": not readable JSON: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new CheckpointException(file + ": expected a JSON object");
    }
    JsonNode eos = root.get("eos_token_id");
    Set<Integer> ids = new LinkedHashSet<>();
    if (eos == null || eos.isNull()) {
      return NONE;
    } else if (eos.isArray()) {
      for (JsonNode id : eos) {
        ids.add(tokenId(file, id, vocabSize));
      }
    } else {
      ids.add(tokenId(file, eos, vocabSize));
    }
    return new GenerationConfig(ids);
  }

  private static int tokenId(Path file, JsonNode node, int vocabSize) throws CheckpointException {
    if (!node.isIntegralNumber() || node.asLong() < 0 || node.asLong() >= vocabSize) {
      throw CheckpointException.field(
          file,
          "eos_token_id",
          "expected a token id or a list of token ids in [0, "
              + (vocabSize - 1)
              + "], got "
              + node);
    }
    return node.asInt();
  }
}
