package io.llavaserve.engine.sampling.constraint;

import static io.llavaserve.engine.sampling.constraint.Grammar.ref;
import static io.llavaserve.engine.sampling.constraint.Grammar.seq;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.prompt.ToolPrompt;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;

/**
 * The grammar of tool calls (OpenAI's {@code tool_choice} {@code required} or a named function) in
 * the format the model writes them ({@link ToolCallFormat}); the name is one of the functions given
 * and the arguments a value of that function's parameters schema, the name first, so that a matcher
 * knows which schema the arguments follow:
 *
 * <ul>
 *   <li>Hermes: one or more {@code <tool_call>{"name": "f", "arguments": {...}}</tool_call>}
 *       blocks;
 *   <li>Llama 3 JSON: {@code {"name": "f", "parameters": {...}}}, several separated by {@code ;}
 *       (the key Llama 3.1's template asks for and writes calls back with);
 *   <li>Mistral: {@code [TOOL_CALLS]} and a JSON array of {@code {"name": "f", "arguments":
 *       {...}}}, the marker allowed as the special token the model was trained to write;
 *   <li>Mistral v11: {@code [TOOL_CALLS]f[ARGS]{...}} for each call, both markers allowed as the
 *       special tokens;
 *   <li>pythonic: a Python list of calls with keyword arguments, {@code [f(a=1, b="x"), g()]},
 *       their values Python literals ({@code True}, {@code None}, strings in double quotes with
 *       JSON's escapes, lists, dicts) of the schema's values; a function whose name or property
 *       names are not Python identifiers cannot be called so, a {@link SchemaException}.
 * </ul>
 *
 * Whitespace is bounded: before the calls, after an opening tag, between the JSON tokens, before a
 * closing tag and around separators; none inside Mistral v11's markup.
 */
public final class ToolCallGrammar {

  /**
   * A function the model may call.
   *
   * @param name its name
   * @param parameters the JSON schema of its arguments
   * @param path where the schema sits in the request, for errors ({@code
   *     tools[0].function.parameters})
   */
  public record Function(String name, JsonNode parameters, String path) {
    public Function {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(parameters, "parameters");
      Objects.requireNonNull(path, "path");
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Mistral's marker before its array of calls, a special token of its tokenizer. */
  public static final String MISTRAL_CALLS = "[TOOL_CALLS]";

  /** Mistral v11's marker between a call's name and its arguments, a special token too. */
  public static final String MISTRAL_ARGS = ToolCallSyntax.MISTRAL_ARGS;

  private ToolCallGrammar() {}

  /** As {@link #compile(ToolCallFormat, List, boolean)} in the Hermes format. */
  public static Grammar compile(List<Function> functions, boolean many) {
    return compile(ToolCallFormat.HERMES, functions, many);
  }

  /**
   * The grammar of calls to {@code functions} written in {@code format}.
   *
   * @param many whether several calls may follow one another (else exactly one)
   * @throws SchemaException naming the keyword's path when a parameters schema cannot be compiled
   */
  public static Grammar compile(ToolCallFormat format, List<Function> functions, boolean many) {
    if (functions.isEmpty()) {
      throw new IllegalArgumentException("a tool-call grammar needs at least one function");
    }
    if (format == ToolCallFormat.NONE) {
      throw new IllegalArgumentException("no grammar writes calls in format none");
    }
    Grammar.Builder b = new Grammar.Builder();
    boolean pythonic = format == ToolCallFormat.PYTHONIC;
    JsonRules json = pythonic ? JsonRules.python(b) : new JsonRules(b);
    int ws = ref(json.ws());
    int[][] bodies = new int[functions.size()][];
    for (int i = 0; i < functions.size(); i++) {
      bodies[i] = body(format, json, functions.get(i));
    }
    int body = b.rule("call body", bodies);
    int root =
        switch (format) {
          case HERMES -> {
            int call =
                b.rule(
                    "call",
                    seq(
                        b.literal(ToolPrompt.CALL_OPEN),
                        ws,
                        ref(object(b, ws, body)),
                        ws,
                        b.literal(ToolPrompt.CALL_CLOSE)));
            yield b.rule(
                "root",
                seq(ws, ref(call), ref(repeated(b, "more calls", many, ws, new int[0], call))));
          }
          case LLAMA3_JSON -> {
            int object = object(b, ws, body);
            yield b.rule(
                "root",
                seq(
                    ws,
                    ref(object),
                    ref(repeated(b, "more calls", many, ws, b.literal(";"), object))));
          }
          case MISTRAL -> {
            int object = object(b, ws, body);
            yield b.rule(
                "root",
                seq(
                    ws,
                    b.literal(MISTRAL_CALLS),
                    ws,
                    b.literal("["),
                    ws,
                    ref(object),
                    ref(repeated(b, "more calls", many, ws, b.literal(","), object)),
                    ws,
                    b.literal("]")));
          }
          case MISTRAL_V11 -> {
            int call = b.rule("call", seq(b.literal(MISTRAL_CALLS), ref(body)));
            yield b.rule(
                "root",
                seq(ws, ref(call), ref(repeated(b, "more calls", many, ws, new int[0], call))));
          }
          case PYTHONIC ->
              b.rule(
                  "root",
                  seq(
                      ws,
                      b.literal("["),
                      ws,
                      ref(body),
                      ref(repeated(b, "more calls", many, ws, b.literal(","), body)),
                      ws,
                      b.literal("]")));
          case NONE -> throw new IllegalStateException("unreachable");
        };
    List<String> specialTokens =
        switch (format) {
          case MISTRAL -> List.of(MISTRAL_CALLS);
          case MISTRAL_V11 -> List.of(MISTRAL_CALLS, MISTRAL_ARGS);
          default -> List.of();
        };
    try {
      return b.build(root, "tool_calls:" + digest(format, functions, many), specialTokens);
    } catch (IllegalStateException e) {
      throw new SchemaException(functions.get(0).path(), e.getMessage());
    }
  }

  /**
   * One function's call after its format's opening markup: in JSON formats the object's members
   * from the name on ({@code "f", "arguments": {...}}); in Mistral v11 {@code f[ARGS]{...}}; in
   * pythonic {@code f(a=1, b=2)}.
   */
  private static int[] body(ToolCallFormat format, JsonRules json, Function f) {
    Grammar.Builder b = json.b;
    int ws = ref(json.ws());
    return switch (format) {
      case MISTRAL_V11 ->
          seq(
              b.literal(f.name()),
              b.literal(MISTRAL_ARGS),
              ref(JsonSchemaGrammar.rule(json, f.parameters(), f.path())));
      case PYTHONIC -> {
        if (!JsonSchemaGrammar.IDENTIFIER.matcher(f.name()).matches()) {
          String at =
              f.path().endsWith(".parameters")
                  ? f.path().substring(0, f.path().length() - ".parameters".length()) + ".name"
                  : f.path();
          throw new SchemaException(
              at,
              "a pythonic call names its function as a Python identifier ([A-Za-z_][A-Za-z0-9_]*),"
                  + " got '"
                  + f.name()
                  + "'");
        }
        int arguments = JsonSchemaGrammar.keywordArguments(json, f.parameters(), f.path());
        yield seq(b.literal(f.name() + "("), ws, ref(arguments), b.literal(")"));
      }
      default -> {
        String key = format == ToolCallFormat.LLAMA3_JSON ? "parameters" : "arguments";
        yield seq(
            b.literal(quoted(f.name())),
            ws,
            b.literal(","),
            ws,
            b.literal(quoted(key)),
            ws,
            b.literal(":"),
            ws,
            ref(JsonSchemaGrammar.rule(json, f.parameters(), f.path())));
      }
    };
  }

  /** A JSON format's call object: {@code {"name": <body>}}. */
  private static int object(Grammar.Builder b, int ws, int body) {
    return b.rule(
        "call object",
        seq(
            b.literal("{"),
            ws,
            b.literal("\"name\""),
            ws,
            b.literal(":"),
            ws,
            ref(body),
            ws,
            b.literal("}")));
  }

  /** {@code (ws separator ws call)*} when {@code many}, else nothing: the calls after the first. */
  private static int repeated(
      Grammar.Builder b, String name, boolean many, int ws, int[] separator, int call) {
    int more = b.rule(name);
    if (many && separator.length == 0) {
      b.define(more, new int[0], seq(ws, ref(call), ref(more)));
    } else if (many) {
      b.define(more, new int[0], seq(ws, separator, ws, ref(call), ref(more)));
    } else {
      b.define(more, new int[0]);
    }
    return more;
  }

  /** As {@link #digest(ToolCallFormat, List, boolean)} in the Hermes format. */
  static String digest(List<Function> functions, boolean many) {
    return digest(ToolCallFormat.HERMES, functions, many);
  }

  /** A digest of the format, the functions' names and schemas and of {@code many}. */
  static String digest(ToolCallFormat format, List<Function> functions, boolean many) {
    ArrayNode key = JSON.createArrayNode().add(format.wireName()).add(many);
    for (Function f : functions) {
      key.add(f.name()).add(f.parameters());
    }
    try {
      return JsonSchemaGrammar.digest(JSON.writeValueAsBytes(key));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static byte[] quoted(String name) {
    try {
      return JSON.writeValueAsString(name).getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
