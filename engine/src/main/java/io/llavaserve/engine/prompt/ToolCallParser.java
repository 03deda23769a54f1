package io.llavaserve.engine.prompt;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Which tool-call parser reads the served model's answers ({@code model.tool-call-parser}): chosen
 * from the checkpoint's chat template and tokenizer, or named by hand as vLLM's {@code
 * --tool-call-parser} names it. {@link ToolCallSyntax#resolve} turns it into the checkpoint's
 * {@link ToolCallSyntax}.
 */
public enum ToolCallParser {
  /** Decided from the chat template and the tokenizer ({@link ToolCallSyntax#detect}). */
  AUTO("auto"),
  /** {@link ToolCallFormat#HERMES}. */
  HERMES("hermes"),
  /** {@link ToolCallFormat#LLAMA3_JSON}. */
  LLAMA3_JSON("llama3_json"),
  /**
   * {@link ToolCallFormat#MISTRAL_V11} where the tokenizer has an {@code [ARGS]} token or the
   * template writes one, as vLLM's {@code mistral} parser decides; else {@link
   * ToolCallFormat#MISTRAL}.
   */
  MISTRAL("mistral"),
  /** {@link ToolCallFormat#PYTHONIC}. */
  PYTHONIC("pythonic"),
  /** {@link ToolCallFormat#NONE}: tool calls are off. */
  NONE("none");

  private final String configName;

  ToolCallParser(String configName) {
    this.configName = configName;
  }

  /** The value {@code model.tool-call-parser} takes for it. */
  public String configName() {
    return configName;
  }

  /** The parser a configuration value names, in any case. */
  public static Optional<ToolCallParser> ofConfigName(String name) {
    return Arrays.stream(values()).filter(p -> p.configName.equalsIgnoreCase(name)).findFirst();
  }

  /** Every configuration value, in order. */
  public static List<String> configNames() {
    return Arrays.stream(values()).map(ToolCallParser::configName).toList();
  }
}
