package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Small byte-level {@code tokenizer.json} trees built in code, shaped like Qwen2's: the 256 byte
 * symbols get ids 0..255 in byte order, each merge's result the next id, added tokens after those.
 */
final class ByteLevelFiles {

  static final ObjectMapper JSON = new ObjectMapper();

  static final String QWEN2_REGEX =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
          + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

  final ObjectNode root = JSON.createObjectNode();
  final ObjectNode vocab;
  final ArrayNode merges;
  final ArrayNode added;
  private int nextId = 256;

  ByteLevelFiles() {
    root.set("normalizer", JSON.createObjectNode().put("type", "NFC"));
    ObjectNode split =
        JSON.createObjectNode()
            .put("type", "Split")
            .put("behavior", "Isolated")
            .put("invert", false);
    split.set("pattern", JSON.createObjectNode().put("Regex", QWEN2_REGEX));
    ObjectNode pre = JSON.createObjectNode().put("type", "Sequence");
    pre.putArray("pretokenizers").add(split).add(byteLevel());
    root.set("pre_tokenizer", pre);
    root.set("post_processor", byteLevel());
    root.set("decoder", byteLevel());
    ObjectNode model = root.putObject("model").put("type", "BPE");
    model.putNull("unk_token");
    vocab = model.putObject("vocab");
    for (int b = 0; b < 256; b++) {
      vocab.put(String.valueOf(ByteLevelAlphabet.symbol(b)), b);
    }
    merges = model.putArray("merges");
    added = root.putArray("added_tokens");
  }

  static ObjectNode byteLevel() {
    return JSON.createObjectNode()
        .put("type", "ByteLevel")
        .put("add_prefix_space", false)
        .put("trim_offsets", false)
        .put("use_regex", false);
  }

  /** Adds the merge "a b" (in symbols) and returns the merged piece's id. */
  int merge(String a, String b) {
    merges.add(a + " " + b);
    int id = nextId++;
    vocab.put(a + b, id);
    return id;
  }

  /** Adds a vocabulary piece reachable by no merge, and returns its id. */
  int piece(String symbols) {
    int id = nextId++;
    vocab.put(symbols, id);
    return id;
  }

  int addedToken(
      String content,
      boolean special,
      boolean normalized,
      boolean lstrip,
      boolean rstrip,
      boolean singleWord) {
    int id = nextId++;
    added
        .addObject()
        .put("id", id)
        .put("content", content)
        .put("single_word", singleWord)
        .put("lstrip", lstrip)
        .put("rstrip", rstrip)
        .put("normalized", normalized)
        .put("special", special);
    return id;
  }

  int special(String content) {
    return addedToken(content, true, false, false, false, false);
  }

  ByteLevelBpeTokenizer tokenizer() {
    return tokenizer(JSON.createObjectNode());
  }

  ByteLevelBpeTokenizer tokenizer(ObjectNode config) {
    return new ByteLevelBpeTokenizer(root, config);
  }
}
