package io.llavaserve.engine.prompt;

import java.util.Arrays;
import java.util.Optional;

/**
 * How a model writes the tool calls of its answer, named as vLLM names its tool parsers ({@code
 * --tool-call-parser}).
 */
public enum ToolCallFormat {

  /**
   * Hermes / Qwen2.5: one {@code <tool_call>{"name": ..., "arguments": {...}}</tool_call>} block
   * per call, text around them; the format {@link ToolPrompt} asks for when a template knows
   * nothing of tools.
   */
  HERMES("hermes"),

  /**
   * Llama 3.1 / 3.2 JSON: the answer is {@code {"name": ..., "parameters": {...}}} (or {@code
   * "arguments"}), optionally after {@code <|python_tag|>}, several calls separated by {@code ;}.
   */
  LLAMA3_JSON("llama3_json"),

  /**
   * Mistral: {@code [TOOL_CALLS]} (a special token) and a JSON array of {@code {"name": ...,
   * "arguments": {...}}}, text before it.
   */
  MISTRAL("mistral");

  private final String parserName;

  ToolCallFormat(String parserName) {
    this.parserName = parserName;
  }

  /** vLLM's name of its parser of this format. */
  public String parserName() {
    return parserName;
  }

  /** The format vLLM's parser {@code name} reads. */
  public static Optional<ToolCallFormat> ofParser(String name) {
    return Arrays.stream(values()).filter(f -> f.parserName.equals(name)).findFirst();
  }
}
