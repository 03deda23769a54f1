package io.llavaserve.web.openai;

import io.llavaserve.engine.prompt.ToolDefinition;
import io.llavaserve.engine.sampling.constraint.Grammar;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The tools of a chat request and how the model may use them: OpenAI's {@code tools}, {@code
 * tool_choice} and {@code parallel_tool_calls}, checked.
 *
 * @param tools the functions declared, in order
 * @param choice what the model may or must do with them
 * @param function the function it must call when {@code choice} is {@link Choice#NAMED}, else null
 * @param parallel whether one answer may hold several calls
 * @param grammar the grammar forcing the calls when the choice is required or named
 */
public record ToolUse(
    List<ToolDefinition> tools,
    Choice choice,
    String function,
    boolean parallel,
    Optional<Grammar> grammar) {

  /** OpenAI's {@code tool_choice}. */
  public enum Choice {
    /** Tools are not offered; the answer is text. */
    NONE,
    /** The model decides; {@code <tool_call>} blocks in its text become calls. */
    AUTO,
    /** At least one call, enforced by the grammar. */
    REQUIRED,
    /** Exactly one call of {@link #function}, enforced by the grammar. */
    NAMED
  }

  /** No tools. */
  public static final ToolUse NONE =
      new ToolUse(List.of(), Choice.NONE, null, true, Optional.empty());

  public ToolUse {
    tools = List.copyOf(tools);
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

  /** The names a call may name. */
  public Set<String> callable() {
    return choice == Choice.NAMED
        ? Set.of(function)
        : tools.stream().map(ToolDefinition::name).collect(Collectors.toUnmodifiableSet());
  }
}
