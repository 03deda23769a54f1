package io.llavaserve.engine.prompt;

import java.util.Arrays;
import java.util.Optional;

/**
 * How a model writes the tool calls of its answer, named as vLLM names its tool parsers ({@code
 * --tool-call-parser}); vLLM's {@code mistral} parser reads two forms, told apart by the tokenizer,
 * and so are two formats here.
 */
public enum ToolCallFormat {

  /**
   * Hermes / Qwen2.5: one {@code <tool_call>{"name": ..., "arguments": {...}}</tool_call>} block
   * per call, text around them; the format {@link ToolPrompt} asks for when a template knows
   * nothing of tools.
   */
  HERMES("hermes", "hermes"),

  /**
   * Llama 3.1 / 3.2 JSON: the answer is {@code {"name": ..., "parameters": {...}}} (or {@code
   * "arguments"}), optionally after {@code <|python_tag|>}, several calls separated by {@code ;}.
   */
  LLAMA3_JSON("llama3_json", "llama3_json"),

  /**
   * Mistral before tokenizer v11 (Mistral 7B Instruct v0.3, Nemo): {@code [TOOL_CALLS]} (a special
   * token) and a JSON array of {@code {"name": ..., "arguments": {...}}}, text before it.
   */
  MISTRAL("mistral", "mistral"),

  /**
   * Mistral from tokenizer v11 on (Mistral Small 3.x, Magistral, Devstral): each call is {@code
   * [TOOL_CALLS]name[ARGS]{...}}, the arguments' JSON object after the name, {@code [CALL_ID]} and
   * an id between them in some versions; text before the first.
   */
  MISTRAL_V11("mistral", "mistral_v11"),

  /**
   * Llama 3.2 / Llama 4 pythonic: the answer is a Python list of calls with literal keyword
   * arguments, {@code [get_weather(city="Oslo"), get_time()]}, optionally between Llama 4's {@code
   * <|python_start|>} and {@code <|python_end|>}.
   */
  PYTHONIC("pythonic", "pythonic"),

  /**
   * None: answers are not read for calls ({@code model.tool-call-parser=none}), so a request that
   * lets the model call tools is refused, as vLLM refuses one without a tool parser.
   */
  NONE("none", "none");

  private final String parserName;
  private final String wireName;

  ToolCallFormat(String parserName, String wireName) {
    this.parserName = parserName;
    this.wireName = wireName;
  }

  /** vLLM's name of its parser of this format. */
  public String parserName() {
    return parserName;
  }

  /** The name this format travels under between cluster nodes: one per format. */
  public String wireName() {
    return wireName;
  }

  /** The format of a {@link #wireName()}. */
  public static Optional<ToolCallFormat> ofWireName(String name) {
    return Arrays.stream(values()).filter(f -> f.wireName.equals(name)).findFirst();
  }

  /** The first format vLLM's parser {@code name} reads. */
  public static Optional<ToolCallFormat> ofParser(String name) {
    return Arrays.stream(values()).filter(f -> f.parserName.equals(name)).findFirst();
  }
}
