package io.llavaserve.engine.sampling.constraint;

import static io.llavaserve.engine.sampling.constraint.Grammar.ref;
import static io.llavaserve.engine.sampling.constraint.Grammar.seq;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;

/**
 * The grammar of tool calls in the default format (OpenAI's {@code tool_choice} {@code required} or
 * a named function): one or more blocks {@code <tool_call>{"name": "f", "arguments": {...}}
 * </tool_call>}, the name one of the functions given and the arguments a value of that function's
 * parameters schema, with bounded whitespace after the opening tag, between the JSON tokens, before
 * the closing tag and between blocks. The name comes before the arguments, so a matcher knows which
 * schema the arguments follow.
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

  private ToolCallGrammar() {}

  /**
   * The grammar of calls to {@code functions}.
   *
   * @param many whether several calls may follow one another (else exactly one)
   * @throws SchemaException naming the keyword's path when a parameters schema cannot be compiled
   */
  public static Grammar compile(List<Function> functions, boolean many) {
    if (functions.isEmpty()) {
      throw new IllegalArgumentException("a tool-call grammar needs at least one function");
    }
    Grammar.Builder b = new Grammar.Builder();
    JsonRules json = new JsonRules(b);
    int ws = ref(json.ws());
    int[][] bodies = new int[functions.size()][];
    for (int i = 0; i < functions.size(); i++) {
      Function f = functions.get(i);
      int arguments = JsonSchemaGrammar.rule(json, f.parameters(), f.path());
      bodies[i] =
          seq(
              b.literal(quoted(f.name())),
              ws,
              b.literal(","),
              ws,
              b.literal("\"arguments\""),
              ws,
              b.literal(":"),
              ws,
              ref(arguments));
    }
    int body = b.rule("call body", bodies);
    int call =
        b.rule(
            "call",
            seq(
                b.literal("<tool_call>"),
                ws,
                b.literal("{"),
                ws,
                b.literal("\"name\""),
                ws,
                b.literal(":"),
                ws,
                ref(body),
                ws,
                b.literal("}"),
                ws,
                b.literal("</tool_call>")));
    int root;
    if (many) {
      int more = b.rule("more calls");
      b.define(more, new int[0], seq(ws, ref(call), ref(more)));
      root = b.rule("root", seq(ws, ref(call), ref(more)));
    } else {
      root = b.rule("root", seq(ws, ref(call)));
    }
    try {
      return b.build(root, "tool_calls:" + digest(functions, many));
    } catch (IllegalStateException e) {
      throw new SchemaException(functions.get(0).path(), e.getMessage());
    }
  }

  /** A digest of the functions' names and schemas and of {@code many}. */
  static String digest(List<Function> functions, boolean many) {
    ArrayNode key = JSON.createArrayNode().add(many);
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
