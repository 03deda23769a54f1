package io.llavaserve.web.openai;

import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.prompt.ToolDefinition;
import io.llavaserve.engine.sampling.constraint.Grammar;
import io.llavaserve.engine.sampling.constraint.ToolCallGrammar;
import io.llavaserve.web.openai.toolparsers.ToolParser;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The tools of a chat request and how the model may use them: OpenAI's {@code tools}, {@code
 * tool_choice} and {@code parallel_tool_calls}, checked; then, once the model that answers is
 * known, bound to how it writes calls ({@link ToolsParser#bind}).
 *
 * @param tools the functions declared, in order
 * @param choice what the model may or must do with them
 * @param function the function it must call when {@code choice} is {@link Choice#NAMED}, else null
 * @param parallel whether one answer may hold several calls
 * @param constrained the functions the grammar allows when the choice is required or named, with
 *     where their schemas sit in the request; empty otherwise
 * @param syntax how the answering model writes calls; {@link ToolCallSyntax#DEFAULT} until bound
 * @param grammar the grammar forcing the calls when the choice is required or named, once bound
 */
public record ToolUse(
    List<ToolDefinition> tools,
    Choice choice,
    String function,
    boolean parallel,
    List<ToolCallGrammar.Function> constrained,
    ToolCallSyntax syntax,
    Optional<Grammar> grammar) {

  /** OpenAI's {@code tool_choice}. */
  public enum Choice {
    /** Tools are not offered; the answer is text. */
    NONE,
    /** The model decides; calls in its text, in its format, become calls. */
    AUTO,
    /** At least one call, enforced by the grammar. */
    REQUIRED,
    /** Exactly one call of {@link #function}, enforced by the grammar. */
    NAMED
  }

  /** No tools. */
  public static final ToolUse NONE =
      new ToolUse(
          List.of(), Choice.NONE, null, true, List.of(), ToolCallSyntax.DEFAULT, Optional.empty());

  public ToolUse {
    tools = List.copyOf(tools);
    constrained = List.copyOf(constrained);
    syntax = syntax == null ? ToolCallSyntax.DEFAULT : syntax;
    grammar = grammar == null ? Optional.empty() : grammar;
  }

  /** The tools the prompt tells the model about: none when the choice is none. */
  public List<ToolDefinition> promptTools() {
    return choice == Choice.NONE ? List.of() : tools;
  }

  /** Whether the answer's text is read for calls. */
  public boolean parsesCalls() {
    return choice != Choice.NONE;
  }

  /** Whether the grammar forces the calls (so the text holds nothing else). */
  public boolean forced() {
    return choice == Choice.REQUIRED || choice == Choice.NAMED;
  }

  /** Whether a forced answer may hold several calls. */
  public boolean many() {
    return parallel && choice == Choice.REQUIRED;
  }

  /** The names a call may name. */
  public Set<String> callable() {
    return choice == Choice.NAMED
        ? Set.of(function)
        : tools.stream().map(ToolDefinition::name).collect(Collectors.toUnmodifiableSet());
  }

  /** A fresh reader of one answer's calls, in the model's format. */
  public ToolParser newParser() {
    return ToolParser.of(syntax.format(), callable(), forced(), syntax.ids());
  }

  /** A whole answer's content and calls. */
  public ToolParser.Parsed parse(String text) {
    return ToolParser.parse(newParser(), text);
  }
}
