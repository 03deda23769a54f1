package io.llavaserve.engine.prompt;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Renders a Hugging Face chat template (Jinja2, as transformers runs it) with jinjava.
 *
 * <p>Jinjava differs from Jinja2 where chat templates care. It is configured for Jinja2's
 * whitespace control on expressions and comments ({@code {{- x -}}}), Python's iteration over a
 * dict's keys and evaluated dict keys; {@link PythonJinja} rewrites the syntax jinjava reads
 * otherwise (string methods, loop filters, the precedence of {@code not}) and adds Jinja2's and
 * transformers' filters, tests and functions. {@code {% generation %}} (a transformers extension
 * marking assistant text) renders its body; {@code raise_exception(msg)} fails the render with the
 * template's message. Messages reach the template as vLLM hands them to transformers ({@link
 * ContentFormat}).
 */
final class JinjaRenderer {

  private static final ThreadLocal<String> RAISED = new ThreadLocal<>();

  /** A template that names {@code tools} renders tool definitions (Qwen2.5, Hermes, Llama 3.1). */
  private static final Pattern USES_TOOLS = Pattern.compile("\\btools\\b");

  private final Jinjava jinjava;
  private final String template;
  private final String bosToken;
  private final String eosToken;
  private final boolean knowsTools;
  private final boolean contentAsParts;

  JinjaRenderer(String template, String bosToken, String eosToken) {
    // transformers renders with trim_blocks and lstrip_blocks on.
    this.jinjava =
        new Jinjava(
            JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(
                    LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withIterateOverMapKeys(true)
                        .withKeepNullableLoopValues(true)
                        .withEvaluateMapKeys(true)
                        .build())
                .build());
    var context = jinjava.getGlobalContext();
    context.registerTag(new GenerationTag());
    context.registerFunction(
        new ELFunctionDefinition(
            "", "raise_exception", JinjaRenderer.class, "raiseException", Object.class));
    PythonJinja.register(context);
    this.knowsTools = USES_TOOLS.matcher(template).find();
    this.contentAsParts = ContentFormat.iteratesContent(template);
    this.template = PythonJinja.rewrite(template);
    this.bosToken = bosToken;
    this.eosToken = eosToken;
  }

  /** Whether the template reads {@code tools}. */
  boolean knowsTools() {
    return knowsTools;
  }

  String render(
      List<ChatMessage> messages, List<ToolDefinition> tools, boolean addGenerationPrompt) {
    Map<String, Object> bindings = new HashMap<>();
    bindings.put("messages", messages.stream().map(this::asTemplateDict).toList());
    if (!tools.isEmpty()) {
      // transformers passes None when there are none, which templates test with "if tools".
      bindings.put("tools", tools.stream().map(ToolPrompt::asOpenAiTool).toList());
    }
    bindings.put("add_generation_prompt", addGenerationPrompt);
    // A global in transformers, which Llama 3.2's template tests with "is defined"; the call
    // itself goes to the function PythonJinja registers.
    bindings.put("strftime_now", "strftime_now");
    bindings.put("bos_token", bosToken);
    bindings.put("eos_token", eosToken);
    RAISED.remove();
    RenderResult result;
    try {
      result = jinjava.renderForResult(template, bindings);
    } finally {
      String raised = RAISED.get();
      RAISED.remove();
      if (raised != null) {
        throw new IllegalArgumentException("chat template rejected the messages: " + raised);
      }
    }
    List<String> fatal = new ArrayList<>();
    for (TemplateError error : result.getErrors()) {
      if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
        fatal.add(error.getMessage() + " (at '" + error.getFieldName() + "')");
      }
    }
    if (!fatal.isEmpty()) {
      throw new IllegalArgumentException(
          "chat template failed to render: " + String.join("; ", fatal));
    }
    return result.getOutput();
  }

  /**
   * A message as a dict, the way vLLM hands it to transformers: {@code {role, content}} with the
   * content a list of {@code {type: text, text}} and {@code {type: image}} parts for a template
   * that iterates over it, else a string (see {@link ContentFormat}); plus an assistant's {@code
   * tool_calls} (arguments parsed) and a tool message's {@code tool_call_id}.
   */
  private Map<String, Object> asTemplateDict(ChatMessage message) {
    Map<String, Object> dict = new LinkedHashMap<>();
    dict.put("role", message.role());
    // An assistant message that only calls tools has content None, as in transformers.
    boolean none = message.content().isEmpty() && !message.toolCalls().isEmpty();
    dict.put(
        "content",
        none
            ? null
            : contentAsParts ? ContentFormat.parts(message) : ContentFormat.string(message));
    if (!message.toolCalls().isEmpty()) {
      List<Map<String, Object>> calls = new ArrayList<>();
      for (ToolCall call : message.toolCalls()) {
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", call.name());
        function.put("arguments", ToolPrompt.argumentsValue(call.arguments()));
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("id", call.id());
        c.put("type", "function");
        c.put("function", function);
        calls.add(c);
      }
      dict.put("tool_calls", calls);
    }
    if (message.toolCallId() != null) {
      dict.put("tool_call_id", message.toolCallId());
    }
    return dict;
  }

  /** Target of {@code raise_exception}: remembers the message and aborts the render. */
  public static Object raiseException(Object message) {
    RAISED.set(String.valueOf(message));
    throw new IllegalArgumentException(String.valueOf(message));
  }

  /** {@code {% generation %}...{% endgeneration %}}: transformers' marker, rendered as its body. */
  private static final class GenerationTag implements Tag {
    @Override
    public String getName() {
      return "generation";
    }

    @Override
    public String getEndTagName() {
      return "endgeneration";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
      StringBuilder out = new StringBuilder();
      for (Node child : tagNode.getChildren()) {
        out.append(child.render(interpreter).getValue());
      }
      return out.toString();
    }
  }
}
