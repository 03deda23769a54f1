package io.llavaserve.engine.prompt;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders a Hugging Face chat template (Jinja2, as transformers runs it) with jinjava.
 *
 * <p>Jinjava differs from Jinja2 where chat templates care: Python string methods such as {@code
 * .upper()} do not exist on Java strings, so calls to them inside {@code {{ }}} and {@code {% %}}
 * are rewritten to equivalent filters before parsing; {@code {% generation %}} (a transformers
 * extension marking assistant text) renders its body; {@code raise_exception(msg)} fails the render
 * with the template's message.
 */
final class JinjaRenderer {

  private static final Pattern BLOCK = Pattern.compile("\\{\\{.*?}}|\\{%.*?%}", Pattern.DOTALL);

  /** Python str method -> jinjava filter that does the same. */
  private static final Map<String, String> METHOD_FILTERS =
      Map.ofEntries(
          Map.entry("upper", "upper"),
          Map.entry("lower", "lower"),
          Map.entry("title", "title"),
          Map.entry("capitalize", "capitalize"),
          Map.entry("strip", "py_strip"),
          Map.entry("lstrip", "py_lstrip"),
          Map.entry("rstrip", "py_rstrip"),
          Map.entry("startswith", "py_startswith"),
          Map.entry("endswith", "py_endswith"));

  private static final Pattern METHOD_CALL =
      Pattern.compile("\\.(" + String.join("|", METHOD_FILTERS.keySet()) + ")\\(");
  private static final Pattern METHOD_NO_ARGS =
      Pattern.compile("\\.(" + String.join("|", METHOD_FILTERS.keySet()) + ")\\(\\s*\\)");

  private static final ThreadLocal<String> RAISED = new ThreadLocal<>();

  /** A template that names {@code tools} renders tool definitions (Qwen2.5, Hermes, Llama 3.1). */
  private static final Pattern USES_TOOLS = Pattern.compile("\\btools\\b");

  private final Jinjava jinjava;
  private final String template;
  private final String bosToken;
  private final String eosToken;
  private final boolean knowsTools;

  JinjaRenderer(String template, String bosToken, String eosToken) {
    // transformers renders with trim_blocks and lstrip_blocks on.
    this.jinjava =
        new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
    var context = jinjava.getGlobalContext();
    context.registerTag(new GenerationTag());
    context.registerFunction(
        new ELFunctionDefinition(
            "", "raise_exception", JinjaRenderer.class, "raiseException", Object.class));
    context.registerFilter(new StripFilter("py_strip", true, true));
    context.registerFilter(new StripFilter("py_lstrip", true, false));
    context.registerFilter(new StripFilter("py_rstrip", false, true));
    context.registerFilter(new AffixFilter("py_startswith", true));
    context.registerFilter(new AffixFilter("py_endswith", false));
    context.registerFilter(new ToJsonFilter());
    this.knowsTools = USES_TOOLS.matcher(template).find();
    this.template = rewritePythonMethods(template);
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
    bindings.put("messages", messages.stream().map(JinjaRenderer::asTransformersDict).toList());
    if (!tools.isEmpty()) {
      // transformers passes None when there are none, which templates test with "if tools".
      bindings.put("tools", tools.stream().map(ToolPrompt::asOpenAiTool).toList());
    }
    bindings.put("add_generation_prompt", addGenerationPrompt);
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

  /** {role, content: [{type: text, text}, {type: image}]} the way transformers passes it. */
  private static Map<String, Object> asTransformersDict(ChatMessage message) {
    List<Map<String, Object>> parts = new ArrayList<>();
    for (ContentPart part : message.content()) {
      Map<String, Object> dict = new LinkedHashMap<>();
      if (part instanceof ContentPart.Text text) {
        dict.put("type", "text");
        dict.put("text", text.text());
      } else {
        dict.put("type", "image");
      }
      parts.add(dict);
    }
    Map<String, Object> dict = new LinkedHashMap<>();
    dict.put("role", message.role());
    // An assistant message that only calls tools has content None, as in transformers.
    dict.put("content", parts.isEmpty() && !message.toolCalls().isEmpty() ? null : parts);
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

  /** Rewrites {@code x.upper()} to {@code x|upper} and friends, only inside Jinja blocks. */
  static String rewritePythonMethods(String template) {
    return BLOCK
        .matcher(template)
        .replaceAll(
            block -> {
              // "x.upper()" -> "x|upper"; "x.startswith('a')" -> "x|py_startswith('a')".
              String noArgs =
                  METHOD_NO_ARGS
                      .matcher(block.group())
                      .replaceAll(m -> "|" + METHOD_FILTERS.get(m.group(1)));
              String withArgs =
                  METHOD_CALL
                      .matcher(noArgs)
                      .replaceAll(m -> "|" + METHOD_FILTERS.get(m.group(1)) + "(");
              return Matcher.quoteReplacement(withArgs);
            });
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

  /** Python's {@code str.strip/lstrip/rstrip}, with an optional set of characters. */
  private record StripFilter(String name, boolean left, boolean right) implements Filter {
    @Override
    public String getName() {
      return name;
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      String s = var == null ? "" : var.toString();
      String chars = args.length > 0 && args[0] != null ? args[0] : null;
      int start = 0;
      int end = s.length();
      while (left && start < end && strippable(s.charAt(start), chars)) {
        start++;
      }
      while (right && end > start && strippable(s.charAt(end - 1), chars)) {
        end--;
      }
      return s.substring(start, end);
    }

    private static boolean strippable(char c, String chars) {
      return chars == null ? Character.isWhitespace(c) : chars.indexOf(c) >= 0;
    }
  }

  /** transformers' {@code tojson}: Python's {@code json.dumps}, see {@link PythonJson}. */
  private static final class ToJsonFilter implements Filter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return PythonJson.dumps(var);
    }
  }

  /** Python's {@code str.startswith/endswith} with one prefix or suffix. */
  private record AffixFilter(String name, boolean prefix) implements Filter {
    @Override
    public String getName() {
      return name;
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      String s = var == null ? "" : var.toString();
      String affix = args.length > 0 && args[0] != null ? args[0] : "";
      return prefix ? s.startsWith(affix) : s.endsWith(affix);
    }
  }
}
