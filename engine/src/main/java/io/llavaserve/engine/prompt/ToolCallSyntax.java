package io.llavaserve.engine.prompt;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * How the served checkpoint's model writes tool calls, decided from its chat template and its
 * tokenizer's added tokens once, at load, as vLLM's {@code --tool-call-parser} would be chosen for
 * it by hand.
 *
 * @param format how calls are written
 * @param ids what call ids look like
 * @param stopTokenIds tokens besides EOS that end an answer offered tools (Llama 3.1's {@code
 *     <|eom_id|>}, with which it ends a call it waits on); empty where the tokenizer is not at hand
 *     (a cluster gateway, which parses answers but never decodes)
 * @param keepSpecialTokens whether an answer offered tools keeps special tokens' text, because the
 *     format's marker is a special token of the tokenizer (Mistral's {@code [TOOL_CALLS]}, Llama's
 *     {@code <|python_tag|>}) and the parser must see it, as vLLM's parsers ask with {@code
 *     skip_special_tokens=False}
 */
public record ToolCallSyntax(
    ToolCallFormat format, ToolCallIds ids, Set<Integer> stopTokenIds, boolean keepSpecialTokens) {

  /** The default: the Hermes format and OpenAI's ids. */
  public static final ToolCallSyntax DEFAULT =
      new ToolCallSyntax(ToolCallFormat.HERMES, ToolCallIds.OPENAI, Set.of(), false);

  /** The markers a parser of each format must see in the text. */
  private static final java.util.Map<ToolCallFormat, List<String>> MARKERS =
      java.util.Map.of(
          ToolCallFormat.HERMES, List.of(ToolPrompt.CALL_OPEN, ToolPrompt.CALL_CLOSE),
          ToolCallFormat.LLAMA3_JSON, List.of("<|python_tag|>"),
          ToolCallFormat.MISTRAL, List.of("[TOOL_CALLS]"));

  /** Mistral's templates check the ids they are sent back: {@code tool_call.id|length != 9}. */
  private static final Pattern NINE_CHARACTER_IDS = Pattern.compile("\\|\\s*length\\s*!=\\s*9\\b");

  public ToolCallSyntax {
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(ids, "ids");
    stopTokenIds = Set.copyOf(stopTokenIds);
  }

  /** As a gateway knows it: the format and the ids, nothing of the tokenizer. */
  public ToolCallSyntax(ToolCallFormat format, ToolCallIds ids) {
    this(format, ids, Set.of(), false);
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
   *   <li>{@code <|python_tag|>}, {@code <|eom_id|>} or {@code <|start_header_id|>} in the
   *       template: Llama 3 JSON;
   *   <li>a {@code [TOOL_CALLS]} token in the tokenizer: Mistral; a {@code <|python_tag|>} token:
   *       Llama 3 JSON;
   *   <li>otherwise Hermes.
   * </ol>
   *
   * Ids are Mistral's 9 characters when a Mistral template checks for them, else OpenAI's; a Llama
   * 3 JSON model's answers also end at {@code <|eom_id|>} when the tokenizer has it.
   */
  public static ToolCallSyntax detect(ChatTemplate template, Tokenizer tokenizer) {
    String source = template.source();
    if (!template.knowsTools() || source == null) {
      return DEFAULT;
    }
    ToolCallFormat format;
    if (source.contains(ToolPrompt.CALL_OPEN)) {
      format = ToolCallFormat.HERMES;
    } else if (source.contains("[TOOL_CALLS]") || source.contains("[AVAILABLE_TOOLS]")) {
      format = ToolCallFormat.MISTRAL;
    } else if (source.contains("<|python_tag|>")
        || source.contains("<|eom_id|>")
        || source.contains("<|start_header_id|>")) {
      format = ToolCallFormat.LLAMA3_JSON;
    } else if (tokenizer.tokenId("[TOOL_CALLS]").isPresent()) {
      format = ToolCallFormat.MISTRAL;
    } else if (tokenizer.tokenId("<|python_tag|>").isPresent()) {
      format = ToolCallFormat.LLAMA3_JSON;
    } else {
      format = ToolCallFormat.HERMES;
    }
    ToolCallIds ids =
        format == ToolCallFormat.MISTRAL && NINE_CHARACTER_IDS.matcher(source).find()
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
}
