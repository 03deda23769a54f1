package io.llavaserve.engine.prompt;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The default tool-calling format, for chat templates that know nothing of tools (Hermes / Qwen2.5
 * style): it rewrites a conversation with tools into plain system, user and assistant messages that
 * any template renders.
 *
 * <ul>
 *   <li>The tools are listed in a system preamble, one {@code {"type": "function", "function":
 *       {...}}} JSON line each inside {@code <tools></tools>}, with the instruction to answer each
 *       call as a {@code <tool_call>{"name": ..., "arguments": {...}}</tool_call>} block; the
 *       preamble follows the conversation's first system message, or is one of its own.
 *   <li>An assistant message's calls are written back in that same block form after its text.
 *   <li>Tool results become a user message, each result in a {@code
 *       <tool_response></tool_response>} block; consecutive results share one message.
 * </ul>
 */
public final class ToolPrompt {

  /** Opens one call in the model's answer. */
  public static final String CALL_OPEN = "<tool_call>";

  /** Closes one call. */
  public static final String CALL_CLOSE = "</tool_call>";

  private static final ObjectMapper JSON = new ObjectMapper();

  private ToolPrompt() {}

  /** The preamble listing {@code tools}. */
  public static String preamble(List<ToolDefinition> tools) {
    StringBuilder out = new StringBuilder();
    out.append("# Tools\n\n")
        .append("You may call one or more of the functions below to help with the request.")
        .append(" Their signatures are inside <tools></tools> tags, one per line:\n<tools>");
    for (ToolDefinition tool : tools) {
      out.append('\n').append(PythonJson.dumps(asOpenAiTool(tool)));
    }
    out.append("\n</tools>\n\n")
        .append("To call a function, write a JSON object with its name and arguments")
        .append(" inside <tool_call></tool_call> tags, one block per call:\n")
        .append(CALL_OPEN)
        .append("\n{\"name\": <function-name>, \"arguments\": <arguments-object>}\n")
        .append(CALL_CLOSE);
    return out.toString();
  }

  /** {@code {"type": "function", "function": {name, description, parameters}}}, as maps. */
  static Map<String, Object> asOpenAiTool(ToolDefinition tool) {
    Map<String, Object> function = new LinkedHashMap<>();
    function.put("name", tool.name());
    if (!tool.description().isEmpty()) {
      function.put("description", tool.description());
    }
    function.put("parameters", JSON.convertValue(tool.parameters(), Object.class));
    Map<String, Object> wrapped = new LinkedHashMap<>();
    wrapped.put("type", "function");
    wrapped.put("function", function);
    return wrapped;
  }

  /** One call as a block: {@code <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>}. */
  public static String block(ToolCall call) {
    return CALL_OPEN
        + "\n{\"name\": "
        + PythonJson.dumps(call.name())
        + ", \"arguments\": "
        + call.arguments()
        + "}\n"
        + CALL_CLOSE;
  }

  /**
   * The conversation in plain messages: the preamble (when there are tools), calls as blocks,
   * results as user messages.
   */
  public static List<ChatMessage> inline(List<ChatMessage> messages, List<ToolDefinition> tools) {
    List<ChatMessage> out = new ArrayList<>();
    int start = 0;
    if (!tools.isEmpty()) {
      String preamble = preamble(tools);
      if (!messages.isEmpty() && messages.get(0).role().equals("system")) {
        String system = messages.get(0).joinedText();
        out.add(
            ChatMessage.text("system", system.isEmpty() ? preamble : system + "\n\n" + preamble));
        start = 1;
      } else {
        out.add(ChatMessage.text("system", preamble));
      }
    }
    StringBuilder results = null;
    for (int i = start; i < messages.size(); i++) {
      ChatMessage m = messages.get(i);
      if (m.role().equals("tool")) {
        results = results == null ? new StringBuilder() : results.append('\n');
        results.append("<tool_response>\n").append(m.joinedText()).append("\n</tool_response>");
        continue;
      }
      if (results != null) {
        out.add(ChatMessage.text("user", results.toString()));
        results = null;
      }
      if (m.toolCalls().isEmpty()) {
        out.add(m);
        continue;
      }
      StringBuilder text = new StringBuilder(m.joinedText());
      for (ToolCall call : m.toolCalls()) {
        text.append(text.isEmpty() ? "" : "\n").append(block(call));
      }
      out.add(ChatMessage.text("assistant", text.toString()));
    }
    if (results != null) {
      out.add(ChatMessage.text("user", results.toString()));
    }
    return out;
  }

  /**
   * The arguments text as a value for templates: the parsed object, or the text if it is not one.
   */
  static Object argumentsValue(String arguments) {
    try {
      return JSON.readValue(arguments, Object.class);
    } catch (IOException e) {
      return arguments;
    }
  }
}
