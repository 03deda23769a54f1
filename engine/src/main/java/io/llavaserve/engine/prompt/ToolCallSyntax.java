package io.llavaserve.engine.prompt;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * How the served checkpoint's model writes tool calls, decided once, at load, from its chat
 * template and its tokenizer's added tokens, as vLLM's {@code --tool-call-parser} would be chosen
 * for it by hand, or from the parser named by hand ({@code model.tool-call-parser}).
 *
 * @param format how calls are written
 * @param ids what call ids look like
 * @param stopTokenIds tokens besides EOS that end an answer offered tools (Llama 3.1's {@code
 *     <|eom_id|>}, with which it ends a call it waits on); empty where the tokenizer is not at hand
 *     (a cluster gateway, which parses answers but never decodes)
 * @param keepSpecialTokens whether an answer offered tools keeps special tokens' text, because the
 *     format's markers are special tokens of the tokenizer (Mistral's {@code [TOOL_CALLS]} and
 *     {@code [ARGS]}, Llama's {@code <|python_tag|>}) and the parser must see them, as vLLM's
 *     parsers ask with {@code skip_special_tokens=False}
 */
public record ToolCallSyntax(
    ToolCallFormat format, ToolCallIds ids, Set<Integer> stopTokenIds, boolean keepSpecialTokens) {

  /** The default: the Hermes format and OpenAI's ids. */
  public static final ToolCallSyntax DEFAULT =
      new ToolCallSyntax(ToolCallFormat.HERMES, ToolCallIds.OPENAI, Set.of(), false);

  /** Tool calls off ({@code model.tool-call-parser=none}). */
  public static final ToolCallSyntax OFF =
      new ToolCallSyntax(ToolCallFormat.NONE, ToolCallIds.OPENAI, Set.of(), false);

  /** Mistral's marker of v11 tokenizers between a call's name and its arguments. */
  public static final String MISTRAL_ARGS = "[ARGS]";

  /** Mistral's marker of v11 tokenizers before a call's id, between its name and {@code [ARGS]}. */
  public static final String MISTRAL_CALL_ID = "[CALL_ID]";

  /** The markers a parser of each format must see in the text. */
  private static final Map<ToolCallFormat, List<String>> MARKERS =
      Map.of(
          ToolCallFormat.HERMES, List.of(ToolPrompt.CALL_OPEN, ToolPrompt.CALL_CLOSE),
          ToolCallFormat.LLAMA3_JSON, List.of("<|python_tag|>"),
          ToolCallFormat.MISTRAL, List.of("[TOOL_CALLS]"),
          ToolCallFormat.MISTRAL_V11, List.of("[TOOL_CALLS]", MISTRAL_ARGS, MISTRAL_CALL_ID),
          ToolCallFormat.PYTHONIC, List.of("<|python_start|>", "<|python_end|>"),
          ToolCallFormat.NONE, List.of());

  /** Mistral's templates check the ids they are sent back: {@code tool_call.id|length != 9}. */
  private static final Pattern NINE_CHARACTER_IDS = Pattern.compile("\\|\\s*length\\s*!=\\s*9\\b");

  /**
   * The instruction pythonic templates give (Llama 3.2's model card, vLLM's Llama 3.2 and Llama 4
   * pythonic templates): "Respond in the format [func_name1(params_name1=params_value1, ...)]".
   */
  private static final String PYTHONIC_INSTRUCTION = "[func_name1(";

  public ToolCallSyntax {
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(ids, "ids");
    stopTokenIds = Set.copyOf(stopTokenIds);
  }

  /** As a gateway knows it: the format and the ids, nothing of the tokenizer. */
  public ToolCallSyntax(ToolCallFormat format, ToolCallIds ids) {
    this(format, ids, Set.of(), false);
  }

  /** Whether answers are read for calls at all. */
  public boolean readsCalls() {
    return format != ToolCallFormat.NONE;
  }

  /**
   * The syntax {@code parser} gives this checkpoint: {@link #detect} for {@link
   * ToolCallParser#AUTO}, else the parser's format, Mistral's in the form its tokenizer (or
   * template) shows, with the ids, stop tokens and special tokens that format needs here.
   */
  public static ToolCallSyntax resolve(
      ToolCallParser parser, ChatTemplate template, Tokenizer tokenizer) {
    ToolCallFormat format =
        switch (parser) {
          case AUTO -> {
            if (!template.knowsTools() || template.source() == null) {
              yield null;
            }
            yield formatOf(template.source(), tokenizer);
          }
          case HERMES -> ToolCallFormat.HERMES;
          case LLAMA3_JSON -> ToolCallFormat.LLAMA3_JSON;
          case MISTRAL -> ToolCallFormat.MISTRAL;
          case PYTHONIC -> ToolCallFormat.PYTHONIC;
          case NONE -> ToolCallFormat.NONE;
        };
    if (format == null) {
      return DEFAULT;
    }
    if (format == ToolCallFormat.NONE) {
      return OFF;
    }
    String source = template.source() == null ? "" : template.source();
    if (format == ToolCallFormat.MISTRAL
        && (tokenizer.tokenId(MISTRAL_ARGS).isPresent() || source.contains(MISTRAL_ARGS))) {
      format = ToolCallFormat.MISTRAL_V11;
    }
    ToolCallIds ids =
        format == ToolCallFormat.MISTRAL_V11
                || format == ToolCallFormat.MISTRAL && NINE_CHARACTER_IDS.matcher(source).find()
            ? ToolCallIds.MISTRAL
            : ToolCallIds.OPENAI;
    Set<Integer> stops = Set.of();
    if (format == ToolCallFormat.LLAMA3_JSON) {
      stops = tokenizer.tokenId("<|eom_id|>").stream().boxed().collect(Collectors.toSet());
    }
    boolean keep =
        MARKERS.get(format).stream()
            .anyMatch(m -> tokenizer.tokenId(m).stream().anyMatch(tokenizer::isSpecial));
    return new ToolCallSyntax(format, ids, stops, keep);
  }

  /**
   * The syntax of a checkpoint, first match wins:
   *
   * <ol>
   *   <li>a template that does not read {@code tools}: {@link ToolCallFormat#HERMES}, the format
   *       {@link ToolPrompt} renders for it;
   *   <li>a template that writes {@code <tool_call>}: Hermes (Qwen2.5, Hermes 2 and 3, whose
   *       tokenizers may hold Llama's tokens);
   *   <li>{@code [TOOL_CALLS]} or {@code [AVAILABLE_TOOLS]} in the template: Mistral;
   *   <li>the pythonic instruction {@code [func_name1(} in the template: pythonic;
   *   <li>{@code <|python_tag|>}, {@code <|eom_id|>} or {@code <|start_header_id|>} in the
   *       template: Llama 3 JSON;
   *   <li>a {@code [TOOL_CALLS]} token in the tokenizer: Mistral; a {@code <|python_tag|>} token:
   *       Llama 3 JSON;
   *   <li>otherwise Hermes.
   * </ol>
   *
   * Mistral is its v11 form ({@code [TOOL_CALLS]name[ARGS]{...}}) where the tokenizer has an {@code
   * [ARGS]} token or the template writes one, with Mistral's 9-character ids; in the earlier form,
   * ids are Mistral's where its template checks for them, else OpenAI's. A Llama 3 JSON model's
   * answers also end at {@code <|eom_id|>} when the tokenizer has it.
   */
  public static ToolCallSyntax detect(ChatTemplate template, Tokenizer tokenizer) {
    return resolve(ToolCallParser.AUTO, template, tokenizer);
  }

  private static ToolCallFormat formatOf(String source, Tokenizer tokenizer) {
    if (source.contains(ToolPrompt.CALL_OPEN)) {
      return ToolCallFormat.HERMES;
    } else if (source.contains("[TOOL_CALLS]") || source.contains("[AVAILABLE_TOOLS]")) {
      return ToolCallFormat.MISTRAL;
    } else if (source.contains(PYTHONIC_INSTRUCTION)) {
      return ToolCallFormat.PYTHONIC;
    } else if (source.contains("<|python_tag|>")
        || source.contains("<|eom_id|>")
        || source.contains("<|start_header_id|>")) {
      return ToolCallFormat.LLAMA3_JSON;
    } else if (tokenizer.tokenId("[TOOL_CALLS]").isPresent()) {
      return ToolCallFormat.MISTRAL;
    } else if (tokenizer.tokenId("<|python_tag|>").isPresent()) {
      return ToolCallFormat.LLAMA3_JSON;
    }
    return ToolCallFormat.HERMES;
  }
}
