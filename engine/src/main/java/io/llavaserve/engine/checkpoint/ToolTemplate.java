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
 * A tool-calling chat template that a tiny checkpoint can carry in place of its own, so that the
 * formats real checkpoints call tools in can be served and tested without them: Llama 3.1's and
 * Mistral 7B v0.3's as their models ship them, and, written here in the formats of their families,
 * Mistral's v11 format ({@code [TOOL_CALLS]name[ARGS]...}) and Llama 3.2's pythonic one (in {@code
 * checkpoint/templates/}); written into {@code chat_template.json}, with the special tokens it
 * writes added to the tokenizer (after its last id, within the model's embedding rows) and the BOS
 * and EOS tokens the model's tokenizer names.
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
          "[/TOOL_RESULTS]")),

  /**
   * Mistral's tokenizers v11 and later (Mistral Small 3.x, Magistral, Devstral), written here: the
   * system prompt in {@code [SYSTEM_PROMPT]}, {@code [AVAILABLE_TOOLS]} before the last user turn,
   * each call as {@code [TOOL_CALLS]name[ARGS]{...}}; the tokenizer also gets {@code [ARGS]} and
   * {@code [CALL_ID]}, which tell vLLM's mistral parser the v11 form.
   */
  MISTRAL_V11(
      "mistral-v11",
      "mistral-v11.jinja",
      "<s>",
      "</s>",
      List.of(
          "[INST]",
          "[/INST]",
          "[TOOL_CALLS]",
          "[AVAILABLE_TOOLS]",
          "[/AVAILABLE_TOOLS]",
          "[TOOL_RESULTS]",
          "[/TOOL_RESULTS]",
          "[SYSTEM_PROMPT]",
          "[/SYSTEM_PROMPT]",
          "[ARGS]",
          "[CALL_ID]")),

  /**
   * Llama 3.2's pythonic tool calling, written here after its model card's zero-shot prompt: the
   * tools as JSON in the system message, which asks for {@code [func_name1(params_name1=...),
   * ...]}; calls written back as that list, results as ipython messages.
   */
  LLAMA_3_2_PYTHONIC(
      "llama3.2",
      "llama-3.2-pythonic.jinja",
      "<|begin_of_text|>",
      "<|eot_id|>",
      List.of(
          "<|begin_of_text|>",
          "<|end_of_text|>",
          "<|start_header_id|>",
          "<|end_header_id|>",
          "<|eom_id|>",
          "<|eot_id|>",
          "<|python_tag|>"));

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
    throw new IllegalArgumentException(
        "expected one of "
            + java.util.Arrays.stream(values()).map(ToolTemplate::label).toList()
            + ", got "
            + label);
  }
}
