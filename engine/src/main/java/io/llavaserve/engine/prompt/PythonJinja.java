package io.llavaserve.engine.prompt;

import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What jinjava needs to render chat templates as Jinja2 does inside transformers: filters, tests
 * and functions that behave as Python's, and a rewrite of the template source where jinjava's
 * syntax differs.
 *
 * <ul>
 *   <li>Python string methods ({@code x.strip()}, {@code x.startswith('a')}) become equivalent
 *       filters, only inside {@code {{ }}} and {@code {% %}}.
 *   <li>A loop's filter ({@code {% for x in xs if cond %}}) filters ({@link #filteredLoops}).
 *   <li>A unary {@code not} binds looser than comparisons and tests, as in Jinja2 ({@link
 *       NotPrecedence}).
 *   <li>{@code tojson} is transformers' ({@code json.dumps(x, ensure_ascii=False, indent=...,
 *       separators=..., sort_keys=...)}), {@code items} and {@code string} are Jinja2's, a string
 *       and a mapping are {@code iterable}, and {@code strftime_now(format)} gives the local time
 *       as transformers' global does.
 * </ul>
 */
final class PythonJinja {

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

  /** {@code {% for TARGET in ITERABLE if CONDITION %}}: a loop with a filter. */
  private static final Pattern FILTERED_FOR =
      Pattern.compile(
          "\\{%([-+]?)\\s*for\\s+([\\w\\s,()]+?)\\s+in\\s+((?:(?!%}).)+?)\\s+if\\s+((?:(?!%}).)+?)"
              + "\\s*([-+]?)%}",
          Pattern.DOTALL);

  private PythonJinja() {}

  /** Registers the filters, tests and functions on a jinjava global context. */
  static void register(Context context) {
    context.registerFilter(new StripFilter("py_strip", true, true));
    context.registerFilter(new StripFilter("py_lstrip", true, false));
    context.registerFilter(new StripFilter("py_rstrip", false, true));
    context.registerFilter(new AffixFilter("py_startswith", true));
    context.registerFilter(new AffixFilter("py_endswith", false));
    context.registerFilter(new ToJsonFilter());
    context.registerFilter(new ItemsFilter());
    context.registerFilter(new StringFilter());
    context.registerExpTest(new IterableTest());
    context.registerFunction(
        new ELFunctionDefinition(
            "", "strftime_now", PythonJinja.class, "strftimeNow", String.class));
  }

  /** The template with Python's syntax rewritten where jinjava reads it otherwise. */
  static String rewrite(String template) {
    return BLOCK
        .matcher(filteredLoops(template))
        .replaceAll(
            block -> {
              // "x.upper()" -> "x|upper"; "x.startswith('a')" -> "x|py_startswith('a')".
              String s =
                  METHOD_NO_ARGS
                      .matcher(block.group())
                      .replaceAll(m -> "|" + METHOD_FILTERS.get(m.group(1)));
              s =
                  METHOD_CALL
                      .matcher(s)
                      .replaceAll(m -> "|" + METHOD_FILTERS.get(m.group(1)) + "(");
              return Matcher.quoteReplacement(withNotPrecedence(s));
            });
  }

  /**
   * Jinja2's loop filter ({@code {% for x in xs if cond %}}), which jinjava ignores, as a first
   * loop that collects the items passing the condition and the loop itself over them, so that
   * {@code loop.index} and {@code loop.last} count only those, as in Jinja2. The whitespace
   * controls of the original tag stay at the outside of the two.
   */
  static String filteredLoops(String template) {
    Matcher m = FILTERED_FOR.matcher(template);
    StringBuilder out = new StringBuilder();
    int n = 0;
    while (m.find()) {
      String target = m.group(2).strip();
      String iterable = m.group(3);
      if (iterable.contains("recursive") || m.group(4).contains("recursive")) {
        m.appendReplacement(out, Matcher.quoteReplacement(m.group()));
        continue;
      }
      String kept = "__loop_filtered_" + n++;
      String item = target.contains(",") ? "(" + target.replaceAll("[()]", "") + ")" : target;
      String rewritten =
          "{%"
              + m.group(1)
              + " set "
              + kept
              + " = [] %}{% for "
              + target
              + " in "
              + iterable
              + " %}{% if "
              + m.group(4)
              + " %}{% do "
              + kept
              + ".append("
              + item
              + ") %}{% endif %}{% endfor %}{% for "
              + target
              + " in "
              + kept
              + " "
              + m.group(5)
              + "%}";
      m.appendReplacement(out, Matcher.quoteReplacement(rewritten));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** A block with {@link NotPrecedence} applied between its delimiters. */
  private static String withNotPrecedence(String block) {
    int start = 2;
    int end = block.length() - 2;
    if (start < end && (block.charAt(start) == '-' || block.charAt(start) == '+')) {
      start++;
    }
    if (start < end && (block.charAt(end - 1) == '-' || block.charAt(end - 1) == '+')) {
      end--;
    }
    return block.substring(0, start)
        + NotPrecedence.rewrite(block.substring(start, end))
        + block.substring(end);
  }

  /** Target of {@code strftime_now}: Python's {@code datetime.now().strftime(format)}. */
  public static String strftimeNow(String format) {
    return Strftime.format(LocalDateTime.now(), format);
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

  /**
   * transformers' {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent=indent,
   * separators=separators, sort_keys=sort_keys)}, see {@link PythonJson}.
   */
  private static final class ToJsonFilter implements AdvancedFilter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(
        Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
      Object indent = kwargs.getOrDefault("indent", args.length > 0 ? args[0] : null);
      int spaces = indent instanceof Number n ? n.intValue() : -1;
      String item = spaces >= 0 ? "," : ", ";
      String key = ": ";
      if (kwargs.get("separators") instanceof List<?> separators && separators.size() == 2) {
        item = String.valueOf(separators.get(0));
        key = String.valueOf(separators.get(1));
      }
      boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
      return PythonJson.dumps(var, spaces, item, key, sortKeys);
    }
  }

  /** Jinja2's {@code items}: a mapping's (key, value) pairs, for {@code for k, v in m | items}. */
  private static final class ItemsFilter implements Filter {
    @Override
    public String getName() {
      return "items";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return var instanceof Map<?, ?> map ? new ArrayList<>(map.entrySet()) : List.of();
    }
  }

  /** Jinja2's {@code string}: Python's {@code str(x)} ({@code None}, {@code True}, reprs). */
  private static final class StringFilter implements Filter {
    @Override
    public String getName() {
      return "string";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return var instanceof String s ? s : PythonRepr.of(var);
    }
  }

  /** Jinja2's {@code iterable}: strings and mappings are, as Python iterates them. */
  private static final class IterableTest implements ExpTest {
    @Override
    public String getName() {
      return "iterable";
    }

    @Override
    public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
      return var instanceof CharSequence
          || var instanceof Iterable<?>
          || var instanceof Map<?, ?>
          || var != null && var.getClass().isArray();
    }
  }
}
