package io.llavaserve.web.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.prompt.ToolDefinition;
import io.llavaserve.engine.sampling.constraint.Grammar;
import io.llavaserve.engine.sampling.constraint.GrammarCache;
import io.llavaserve.engine.sampling.constraint.SchemaException;
import io.llavaserve.engine.sampling.constraint.ToolCallGrammar;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a chat body's {@code tools}, {@code tool_choice} and {@code parallel_tool_calls} (or the
 * legacy {@code functions} and {@code function_call}, mapped onto them) into a {@link ToolUse};
 * each violation is a 400 naming the field, such as {@code tools[1].function.name}. Once the model
 * that answers is known, {@link #bind} compiles the grammar of {@code required} and a named
 * function in its format (cached), so a parameters schema it cannot honour is a 400 naming the
 * keyword's path.
 */
final class ToolsParser {

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final GrammarCache GRAMMARS = new GrammarCache(64);

  private ToolsParser() {}

  static ToolUse parse(JsonObject body) {
    boolean legacy = body.getValue("functions") != null;
    if (legacy && body.getValue("tools") != null) {
      throw ApiError.badRequest("functions", "send tools or the legacy functions, not both");
    }
    if (body.getValue("function_call") != null && body.getValue("tool_choice") != null) {
      throw ApiError.badRequest(
          "function_call", "send tool_choice or the legacy function_call, not both");
    }
    String toolsField = legacy ? "functions" : "tools";
    String choiceField = body.getValue("function_call") != null ? "function_call" : "tool_choice";
    List<ToolDefinition> tools = tools(body.getValue(toolsField), toolsField, legacy);
    Object rawChoice = body.getValue(choiceField);
    ToolUse.Choice choice;
    String function = null;
    if (rawChoice == null) {
      choice = tools.isEmpty() ? ToolUse.Choice.NONE : ToolUse.Choice.AUTO;
    } else if (rawChoice instanceof String s) {
      choice =
          switch (s) {
            case "none" -> ToolUse.Choice.NONE;
            case "auto" -> ToolUse.Choice.AUTO;
            case "required" -> ToolUse.Choice.REQUIRED;
            default ->
                throw ApiError.badRequest(
                    choiceField,
                    choiceField
                        + " must be none, auto, required or {\"type\": \"function\", \"function\":"
                        + " {\"name\": ...}}, got '"
                        + s
                        + "'");
          };
    } else if (rawChoice instanceof JsonObject o) {
      choice = ToolUse.Choice.NAMED;
      function = namedChoice(o, choiceField, legacy);
    } else {
      throw JsonFields.wrongType(choiceField, "a string or an object", rawChoice);
    }
    if (tools.isEmpty() && (choice == ToolUse.Choice.REQUIRED || choice == ToolUse.Choice.NAMED)) {
      throw ApiError.badRequest(
          choiceField, choiceField + " asks for a tool call, but no " + toolsField + " are given");
    }
    if (tools.isEmpty()) {
      choice = ToolUse.Choice.NONE;
    }
    if (function != null) {
      String name = function;
      if (tools.stream().noneMatch(t -> t.name().equals(name))) {
        String param = choiceField + (legacy ? ".name" : ".function.name");
        throw ApiError.badRequest(
            param, param + " names '" + name + "', which is not among the " + toolsField);
      }
    }
    Boolean parallel = JsonFields.bool(body, "parallel_tool_calls");
    boolean forced = choice == ToolUse.Choice.REQUIRED || choice == ToolUse.Choice.NAMED;
    return new ToolUse(
        tools,
        choice,
        function,
        !Boolean.FALSE.equals(parallel),
        forced ? constrained(tools, function, toolsField, legacy) : List.of(),
        ToolCallSyntax.DEFAULT,
        Optional.empty());
  }

  /**
   * {@code tools} bound to the model's {@code syntax}: for {@code required} and a named function,
   * the grammar of the calls in its format.
   *
   * @throws ApiError 400 at the keyword's path when a parameters schema cannot be honoured, and 400
   *     naming {@code tool_choice} when the model's answers are not read for calls ({@code
   *     model.tool-call-parser=none}) and the choice is not none, as vLLM refuses {@code auto}
   *     without a tool parser
   */
  static ToolUse bind(ToolUse tools, ToolCallSyntax syntax) {
    if (!syntax.readsCalls() && tools.choice() != ToolUse.Choice.NONE) {
      String choice =
          switch (tools.choice()) {
            case AUTO -> "auto (the default when tools are given)";
            case REQUIRED -> "required";
            default -> "naming a function";
          };
      throw ApiError.badRequest(
          "tool_choice",
          "tool_choice "
              + choice
              + " needs a tool-call parser, and this server reads no tool calls"
              + " (model.tool-call-parser=none); send tool_choice none, or no tools");
    }
    Optional<Grammar> grammar = Optional.empty();
    if (tools.forced()) {
      try {
        grammar =
            Optional.of(GRAMMARS.toolCalls(syntax.format(), tools.constrained(), tools.many()));
      } catch (SchemaException e) {
        throw ApiError.badRequest(e.path(), e.getMessage());
      }
    }
    return new ToolUse(
        tools.tools(),
        tools.choice(),
        tools.function(),
        tools.parallel(),
        tools.constrained(),
        syntax,
        grammar);
  }

  /** The functions a forced answer may call, each with where its schema sits in the request. */
  private static List<ToolCallGrammar.Function> constrained(
      List<ToolDefinition> tools, String function, String field, boolean legacy) {
    List<ToolCallGrammar.Function> callable = new ArrayList<>();
    for (int i = 0; i < tools.size(); i++) {
      ToolDefinition t = tools.get(i);
      if (function == null || function.equals(t.name())) {
        String path = field + "[" + i + "]" + (legacy ? "" : ".function") + ".parameters";
        callable.add(new ToolCallGrammar.Function(t.name(), t.parameters(), path));
      }
    }
    return callable;
  }

  private static String namedChoice(JsonObject o, String field, boolean legacy) {
    if (legacy) {
      String name = JsonFields.string(o, "name", field + ".name");
      if (name == null) {
        throw ApiError.badRequest(field + ".name", field + ".name is required");
      }
      return name;
    }
    String type = JsonFields.string(o, "type", field + ".type");
    if (!"function".equals(type)) {
      throw ApiError.badRequest(field + ".type", field + ".type must be function, got " + type);
    }
    JsonObject f = JsonFields.object(o, "function", field + ".function");
    String name = f == null ? null : JsonFields.string(f, "name", field + ".function.name");
    if (name == null) {
      throw ApiError.badRequest(field + ".function.name", field + ".function.name is required");
    }
    return name;
  }

  private static List<ToolDefinition> tools(Object raw, String field, boolean legacy) {
    if (raw == null) {
      return List.of();
    }
    if (!(raw instanceof JsonArray array)) {
      throw JsonFields.wrongType(field, "an array", raw);
    }
    List<ToolDefinition> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < array.size(); i++) {
      String param = field + "[" + i + "]";
      Object item = array.getValue(i);
      if (!(item instanceof JsonObject tool)) {
        throw JsonFields.wrongType(param, "an object", item);
      }
      JsonObject function;
      if (legacy) {
        function = tool;
      } else {
        String type = JsonFields.string(tool, "type", param + ".type");
        if (!"function".equals(type)) {
          throw ApiError.badRequest(param + ".type", param + ".type must be function, got " + type);
        }
        function = JsonFields.object(tool, "function", param + ".function");
        if (function == null) {
          throw ApiError.badRequest(param + ".function", param + ".function is required");
        }
        param += ".function";
      }
      out.add(definition(function, param));
      if (!names.add(out.get(i).name())) {
        throw ApiError.badRequest(
            param + ".name", param + ".name '" + out.get(i).name() + "' is declared twice");
      }
    }
    return out;
  }

  private static ToolDefinition definition(JsonObject f, String param) {
    String name = JsonFields.string(f, "name", param + ".name");
    if (name == null) {
      throw ApiError.badRequest(param + ".name", param + ".name is required");
    }
    if (!NAME.matcher(name).matches()) {
      throw ApiError.badRequest(
          param + ".name",
          param
              + ".name must be 1 to 64 letters, digits, underscores or dashes, got '"
              + name
              + "'");
    }
    String description = JsonFields.string(f, "description", param + ".description");
    JsonFields.bool(f, "strict");
    JsonObject parameters = JsonFields.object(f, "parameters", param + ".parameters");
    JsonNode schema = null;
    if (parameters != null) {
      Object type = parameters.getValue("type");
      if (type != null && !"object".equals(type)) {
        throw ApiError.badRequest(
            param + ".parameters.type",
            param + ".parameters must be an object schema (type object), got type " + type);
      }
      try {
        schema = JSON.readTree(parameters.encode());
      } catch (IOException e) {
        throw ApiError.badRequest(param + ".parameters", param + ".parameters: " + e.getMessage());
      }
    }
    return new ToolDefinition(name, description, schema);
  }
}
