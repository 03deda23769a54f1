package io.llavaserve.engine.prompt;

import java.util.Objects;

/**
 * A function call an assistant made earlier in the conversation, as OpenAI's {@code tool_calls[]}
 * hold it.
 *
 * @param id the call's id, which the {@code tool} message answering it names
 * @param name the function's name
 * @param arguments the arguments as the JSON text the model wrote (an object)
 */
public record ToolCall(String id, String name, String arguments) {
  public ToolCall {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(arguments, "arguments");
  }
}
