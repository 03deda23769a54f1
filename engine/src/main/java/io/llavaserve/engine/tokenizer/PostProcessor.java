package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The special-token ids a {@code post_processor} puts around a single sequence: none for {@code
 * ByteLevel} (Qwen2, GPT-2), the template's tokens for {@code TemplateProcessing} (LLaMA-3's {@code
 * <|begin_of_text|>}), cls/sep for {@code RobertaProcessing}/{@code BertProcessing}.
 *
 * @param prefix ids before the text
 * @param suffix ids after the text
 */
record PostProcessor(List<Integer> prefix, List<Integer> suffix) {

  PostProcessor {
    prefix = List.copyOf(prefix);
    suffix = List.copyOf(suffix);
  }

  /** The first id added before the text, or -1 (a BOS in all but name). */
  int first() {
    return prefix.isEmpty() ? -1 : prefix.get(0);
  }

  /** The last id added after the text, or -1. */
  int last() {
    return suffix.isEmpty() ? -1 : suffix.get(suffix.size() - 1);
  }

  /**
   * Reads a {@code post_processor} node.
   *
   * @param field where the node sits, for error messages
   * @throws IllegalArgumentException naming the field for a post-processor that is not served
   */
  static PostProcessor fromJson(JsonNode node, String field) {
    List<Integer> prefix = new ArrayList<>();
    List<Integer> suffix = new ArrayList<>();
    add(node, field, prefix, suffix);
    return new PostProcessor(prefix, suffix);
  }

  private static void add(JsonNode node, String field, List<Integer> prefix, List<Integer> suffix) {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "ByteLevel" -> {} // only trims offsets, which ids do not carry
      case "Sequence" -> {
        JsonNode children = node.path("processors");
        for (int i = 0; i < children.size(); i++) {
          add(children.get(i), field + ".processors[" + i + "]", prefix, suffix);
        }
      }
      case "TemplateProcessing" -> {
        boolean seenSequence = false;
        for (JsonNode item : node.path("single")) {
          if (item.has("Sequence")) {
            seenSequence = true;
          } else if (item.has("SpecialToken")) {
            String id = item.get("SpecialToken").path("id").asText();
            JsonNode ids = node.path("special_tokens").path(id).path("ids");
            if (!ids.isArray() || ids.isEmpty()) {
              throw new IllegalArgumentException(
                  "tokenizer.json: " + field + ".special_tokens has no ids for '" + id + "'");
            }
            List<Integer> side = seenSequence ? suffix : prefix;
            ids.forEach(i -> side.add(i.asInt()));
          }
        }
      }
      case "RobertaProcessing", "BertProcessing" -> {
        prefix.add(node.path("cls").path(1).asInt());
        suffix.add(node.path("sep").path(1).asInt());
      }
      default ->
          throw new IllegalArgumentException(
              "tokenizer.json: " + field + ".type '" + type + "' is not supported");
    }
  }
}
