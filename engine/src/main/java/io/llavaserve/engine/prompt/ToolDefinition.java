package io.llavaserve.engine.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.util.Objects;

/**
 * A function the model may call: OpenAI's {@code tools[].function}.
 *
 * @param name the name the model calls it by
 * @param description what it does, for the model; may be empty
 * @param parameters the JSON schema of its arguments (an object schema)
 */
public record ToolDefinition(String name, String description, JsonNode parameters) {
  public ToolDefinition {
    Objects.requireNonNull(name, "name");
    description = description == null ? "" : description;
    parameters =
        parameters == null
            ? JsonNodeFactory.instance.objectNode().put("type", "object")
            : parameters;
  }
}
