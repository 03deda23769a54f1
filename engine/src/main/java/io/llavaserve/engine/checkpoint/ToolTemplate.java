package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * A real tool-calling chat template that a tiny checkpoint can carry in place of its own, so that
 * the formats real checkpoints call tools in can be served and tested without them: the template as
 * its model ships it (in {@code checkpoint/templates/}), written into {@code chat_template.json},
 * and the special tokens it writes added to the tokenizer (after its last id, within the model's
 * embedding rows), with the BOS and EOS tokens the model's tokenizer names.
 */
public enum ToolTemplate {

  /** meta-llama/Llama-3.1-8B-Instruct's: tools as JSON in the first user turn, calls as JSON. */
  LLAMA_3_1(
      "llama3.1",
      "llama-3.1-instruct.jinja",
      "<|begin_of_text|>",
      "<|eot_id|>",
      List.of(
          "<|begin_of_text|>",
          "<|end_of_text|>",
          "<|start_header_id|>",
          "<|end_header_id|>",
          "<|eom_id|>",
          "<|eot_id|>",
          "<|python_tag|>")),

  /**
   * mistralai/Mistral-7B-Instruct-v0.3's: {@code [AVAILABLE_TOOLS]} before the last user turn,
   * calls after {@code [TOOL_CALLS]}, 9-character call ids.
   */
  MISTRAL_V0_3(
      "mistral-v0.3",
      "mistral-7b-instruct-v0.3.jinja",
      "<s>",
      "</s>",
      List.of(
          "[INST]",
          "[/INST]",
          "[TOOL_CALLS]",
          "[AVAILABLE_TOOLS]",
          "[/AVAILABLE_TOOLS]",
          "[TOOL_RESULTS]",
          "[/TOOL_RESULTS]"));

  private static final ObjectMapper JSON = new ObjectMapper();

  private final String label;
  private final String file;
  private final String bos;
  private final String eos;
  private final List<String> specialTokens;

  ToolTemplate(String label, String file, String bos, String eos, List<String> specialTokens) {
    this.label = label;
    this.file = file;
    this.bos = bos;
    this.eos = eos;
    this.specialTokens = specialTokens;
  }

  /** The name the command line knows it by. */
  public String label() {
    return label;
  }

  /** The special tokens it adds, in id order. */
  public List<String> specialTokens() {
    return specialTokens;
  }

  /** The Jinja source. */
  public String source() {
    try (InputStream in = ToolTemplate.class.getResourceAsStream("templates/" + file)) {
      if (in == null) {
        throw new IllegalStateException("template missing from the classpath: " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Writes the template into {@code dir}'s {@code chat_template.json} and adds its special tokens
   * to the tokenizer files there ({@code added_tokens} of tokenizer.json, {@code
   * added_tokens_decoder}, {@code bos_token} and {@code eos_token} of tokenizer_config.json).
   *
   * @throws IllegalArgumentException when the model's vocabulary has no room for the tokens
   */
  public void applyTo(Path dir) throws IOException {
    Path tokenizerJson = dir.resolve(Checkpoint.TOKENIZER);
    Path configJson = dir.resolve(Checkpoint.TOKENIZER_CONFIG);
    ObjectNode tokenizer = (ObjectNode) JSON.readTree(tokenizerJson.toFile());
    ObjectNode config = (ObjectNode) JSON.readTree(configJson.toFile());
    ArrayNode added = (ArrayNode) tokenizer.get("added_tokens");
    int next = tokenizer.path("model").path("vocab").size();
    for (JsonNode t : added) {
      next = Math.max(next, t.path("id").asInt() + 1);
    }
    int rows =
        JSON.readTree(dir.resolve(Checkpoint.CONFIG).toFile())
            .path("text_config")
            .path("vocab_size")
            .asInt();
    if (next + specialTokens.size() > rows) {
      throw new IllegalArgumentException(
          "the model has "
              + rows
              + " embedding rows, too few for "
              + specialTokens.size()
              + " more tokens after id "
              + (next - 1));
    }
    ObjectNode decoder = (ObjectNode) config.get("added_tokens_decoder");
    for (String token : specialTokens) {
      ObjectNode entry = JSON.createObjectNode();
      entry.put("content", token);
      entry.put("lstrip", false);
      entry.put("normalized", false);
      entry.put("rstrip", false);
      entry.put("single_word", false);
      entry.put("special", true);
      decoder.set(String.valueOf(next), entry.deepCopy());
      added.add(JSON.createObjectNode().put("id", next).setAll(entry));
      next++;
    }
    config.put("bos_token", bos);
    config.put("eos_token", eos);
    JSON.writerWithDefaultPrettyPrinter().writeValue(tokenizerJson.toFile(), tokenizer);
    JSON.writerWithDefaultPrettyPrinter().writeValue(configJson.toFile(), config);
    ObjectNode chatTemplate = JSON.createObjectNode().put("chat_template", source());
    JSON.writerWithDefaultPrettyPrinter()
        .writeValue(dir.resolve(Checkpoint.CHAT_TEMPLATE).toFile(), chatTemplate);
  }

  /** The template of a command-line name. */
  public static ToolTemplate ofLabel(String label) {
    for (ToolTemplate t : values()) {
      if (t.label.equals(label)) {
        return t;
      }
    }
    throw new IllegalArgumentException("expected llama3.1 or mistral-v0.3, got " + label);
  }
}
