package io.llavaserve.engine.sampling.constraint;

import static io.llavaserve.engine.sampling.constraint.Grammar.ref;
import static io.llavaserve.engine.sampling.constraint.Grammar.seq;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Compiles the subset of JSON Schema that OpenAI's structured outputs document into a {@link
 * Grammar} whose sentences are exactly the JSON texts (compact or with bounded whitespace) that
 * validate against the schema: {@code type} (one or a list), {@code properties} / {@code required}
 * / {@code additionalProperties}, {@code items} with {@code minItems} / {@code maxItems}, {@code
 * enum}, {@code const}, {@code anyOf}, {@code $ref} into {@code $defs} / {@code definitions} (or
 * {@code #}, recursion allowed), strings with {@code minLength} / {@code maxLength} and the formats
 * {@code date}, {@code time}, {@code date-time} and {@code uuid}.
 *
 * <p>Properties are generated in the schema's order; optional ones may be left out. Extra
 * properties are never generated (the output still validates whatever {@code additionalProperties}
 * says), except for an object without {@code properties}, whose members follow {@code
 * additionalProperties} (any value when it is absent or true). A keyword that would constrain the
 * output in a way the grammar does not ({@code pattern}, {@code minimum}, {@code oneOf}, ...) is a
 * {@link SchemaException} naming it; annotations ({@code description}, {@code title}, ...) are
 * ignored. The text generated starts with up to {@link JsonRules#MAX_WHITESPACE} whitespace bytes
 * and ends right after the value.
 */
public final class JsonSchemaGrammar {

  /** Keywords that constrain a value in a way this compiler does not implement. */
  private static final Set<String> UNSUPPORTED =
      Set.of(
          "pattern",
          "patternProperties",
          "minimum",
          "maximum",
          "exclusiveMinimum",
          "exclusiveMaximum",
          "multipleOf",
          "oneOf",
          "allOf",
          "not",
          "if",
          "then",
          "else",
          "dependentRequired",
          "dependentSchemas",
          "dependencies",
          "propertyNames",
          "minProperties",
          "maxProperties",
          "uniqueItems",
          "contains",
          "minContains",
          "maxContains",
          "prefixItems",
          "additionalItems",
          "unevaluatedProperties",
          "unevaluatedItems",
          "contentEncoding",
          "contentMediaType",
          "$dynamicRef",
          "$recursiveRef");

  private static final Set<String> TYPES =
      Set.of("object", "array", "string", "number", "integer", "boolean", "null");

  /** A name Python accepts as a keyword argument's (ASCII letters, digits, underscores). */
  static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  private static final ObjectMapper JSON =
      new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, false);

  private final JsonNode root;
  private final JsonRules json;
  private final Grammar.Builder b;
  private final Map<String, Integer> refs = new HashMap<>();

  private JsonSchemaGrammar(JsonNode root, JsonRules json) {
    this.root = root;
    this.b = json.b;
    this.json = json;
  }

  /**
   * Adds the rules of {@code schema}'s values to {@code json}'s builder, for grammars that embed a
   * schema (tool calls); {@code $ref}s resolve within {@code schema}.
   *
   * @return the rule matching a valid value, with no whitespace before it
   * @throws SchemaException naming the keyword and its path when the schema cannot be compiled
   */
  static int rule(JsonRules json, JsonNode schema, String path) {
    return new JsonSchemaGrammar(schema, json).schema(schema, path);
  }

  /**
   * Adds the rules of the keyword arguments a pythonic call passes an arguments object valid under
   * {@code schema} by ({@code city="Oslo", days=2}), to {@code json}'s builder, whose rules must be
   * the Python dialect's; the schema must describe an object.
   *
   * @return the rule matching the arguments (none, when the object may be empty), each followed by
   *     bounded whitespace, with none before the first
   * @throws SchemaException naming the keyword and its path when the schema cannot be compiled, or
   *     is not an object's, or names a property that cannot be a keyword argument
   */
  static int keywordArguments(JsonRules json, JsonNode schema, String path) {
    if (!json.isPython()) {
      throw new IllegalArgumentException("keyword arguments are written in the Python dialect");
    }
    JsonSchemaGrammar c = new JsonSchemaGrammar(schema, json);
    if (schema.isBoolean()) {
      if (!schema.booleanValue()) {
        throw new SchemaException(path, "the schema false admits no value");
      }
      return c.anyKeywords(json.value());
    }
    if (!schema.isObject()) {
      throw new SchemaException(path, "a schema must be an object or a boolean");
    }
    checkKeywords(schema, path);
    for (String k : List.of("$ref", "anyOf", "enum", "const")) {
      if (schema.has(k)) {
        throw new SchemaException(
            path + "." + k,
            "pythonic calls pass their arguments as keywords, so the parameters must be an object"
                + " schema at the top, not "
                + k);
      }
    }
    List<String> types = c.types(schema, path);
    if (!types.isEmpty() && !types.equals(List.of("object"))) {
      throw new SchemaException(
          path + ".type", "the parameters of a pythonic call must be an object");
    }
    return c.members(schema, path, true);
  }

  /**
   * The grammar of the JSON texts valid under {@code schema}.
   *
   * @param path where the schema sits in the request, for error messages ({@code
   *     response_format.json_schema.schema})
   * @throws SchemaException naming the keyword and its path when the schema cannot be compiled
   */
  public static Grammar compile(JsonNode schema, String path) {
    JsonSchemaGrammar c = new JsonSchemaGrammar(schema, new JsonRules(new Grammar.Builder()));
    int value = c.schema(schema, path);
    int top = c.b.rule("root", seq(ref(c.json.ws()), ref(value)));
    try {
      return c.b.build(top, "schema:" + digest(schema));
    } catch (IllegalStateException e) {
      throw new SchemaException(path, e.getMessage());
    }
  }

  /** The grammar of any JSON object: {@code response_format: {"type": "json_object"}}. */
  public static Grammar anyObject() {
    Grammar.Builder b = new Grammar.Builder();
    JsonRules json = new JsonRules(b);
    int top = b.rule("root", seq(ref(json.ws()), ref(json.object())));
    return b.build(top, "json_object");
  }

  /** A digest of the schema's compact text: equal schemas, equal keys. */
  static String digest(JsonNode schema) {
    try {
      return digest(JSON.writeValueAsBytes(schema));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  static String digest(byte[] text) {
    try {
      return HexFormat.of()
          .formatHex(MessageDigest.getInstance("SHA-256").digest(text))
          .substring(0, 32);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private int schema(JsonNode s, String path) {
    if (s.isBoolean()) {
      if (!s.booleanValue()) {
        throw new SchemaException(path, "the schema false admits no value");
      }
      return json.value();
    }
    if (!s.isObject()) {
      throw new SchemaException(path, "a schema must be an object or a boolean");
    }
    checkKeywords(s, path);
    if (s.has("$ref")) {
      return reference(s.get("$ref"), path + ".$ref");
    }
    if (s.has("const")) {
      return literals(List.of(s.get("const")), path + ".const");
    }
    if (s.has("enum")) {
      JsonNode e = s.get("enum");
      if (!e.isArray() || e.isEmpty()) {
        throw new SchemaException(path + ".enum", "enum must be a non-empty array");
      }
      List<JsonNode> values = new ArrayList<>();
      e.forEach(values::add);
      return literals(values, path + ".enum");
    }
    if (s.has("anyOf")) {
      JsonNode any = s.get("anyOf");
      if (!any.isArray() || any.isEmpty()) {
        throw new SchemaException(path + ".anyOf", "anyOf must be a non-empty array");
      }
      if (s.has("type") || s.has("properties") || s.has("items")) {
        throw new SchemaException(
            path + ".anyOf", "anyOf beside type, properties or items is not supported");
      }
      int[][] alternatives = new int[any.size()][];
      for (int i = 0; i < any.size(); i++) {
        alternatives[i] = new int[] {ref(schema(any.get(i), path + ".anyOf[" + i + "]"))};
      }
      return b.rule("anyOf", alternatives);
    }
    List<String> types = types(s, path);
    if (types.isEmpty()) {
      return json.value();
    }
    int[][] alternatives = new int[types.size()][];
    for (int i = 0; i < types.size(); i++) {
      alternatives[i] = new int[] {ref(typed(types.get(i), s, path))};
    }
    return alternatives.length == 1
        ? Grammar.ruleOf(alternatives[0][0])
        : b.rule("types", alternatives);
  }

  private static void checkKeywords(JsonNode s, String path) {
    Iterator<String> names = s.fieldNames();
    while (names.hasNext()) {
      String k = names.next();
      if (UNSUPPORTED.contains(k)) {
        throw new SchemaException(path + "." + k, "the keyword " + k + " is not supported");
      }
    }
  }

  private List<String> types(JsonNode s, String path) {
    JsonNode t = s.get("type");
    Set<String> out = new LinkedHashSet<>();
    if (t == null) {
      if (s.has("properties") || s.has("additionalProperties") || s.has("required")) {
        out.add("object");
      } else if (s.has("items") || s.has("minItems") || s.has("maxItems")) {
        out.add("array");
      }
    } else if (t.isTextual()) {
      out.add(t.textValue());
    } else if (t.isArray() && !t.isEmpty()) {
      t.forEach(x -> out.add(x.asText()));
    } else {
      throw new SchemaException(path + ".type", "type must be a string or a non-empty array");
    }
    for (String name : out) {
      if (!TYPES.contains(name)) {
        throw new SchemaException(path + ".type", "unknown type '" + name + "'");
      }
    }
    return new ArrayList<>(out);
  }

  private int typed(String type, JsonNode s, String path) {
    return switch (type) {
      case "object" -> object(s, path);
      case "array" -> array(s, path);
      case "string" -> string(s, path);
      case "number" -> json.number();
      case "integer" -> json.integer();
      case "boolean" ->
          b.rule("boolean", b.literal(json.keyword("true")), b.literal(json.keyword("false")));
      case "null" -> json.literalRule("null", "null");
      default -> throw new SchemaException(path + ".type", "unknown type '" + type + "'");
    };
  }

  private int object(JsonNode s, String path) {
    return members(s, path, false);
  }

  /**
   * The members of an object valid under {@code s}: {@code {"k": v, ...}}, or with {@code keywords}
   * Python's keyword arguments {@code k=v, ...} (no braces; whitespace after the last), the form in
   * which pythonic tool calls pass their arguments object.
   */
  private int members(JsonNode s, String path, boolean keywords) {
    JsonNode props = s.get("properties");
    JsonNode extra = s.get("additionalProperties");
    if (props != null && !props.isObject()) {
      throw new SchemaException(path + ".properties", "properties must be an object");
    }
    Set<String> required = new LinkedHashSet<>();
    JsonNode req = s.get("required");
    if (req != null) {
      if (!req.isArray()) {
        throw new SchemaException(path + ".required", "required must be an array of names");
      }
      for (JsonNode r : req) {
        if (!r.isTextual() || props == null || !props.has(r.textValue())) {
          throw new SchemaException(
              path + ".required",
              "required names '" + r.asText() + "', which properties does not define");
        }
        required.add(r.textValue());
      }
    }
    int[] separator = keywords ? b.literal("=") : b.literal(":");
    if (props == null || props.isEmpty()) {
      if (extra != null && extra.isBoolean() && !extra.booleanValue()) {
        return keywords
            ? b.rule("no arguments", new int[0])
            : b.rule("empty", seq(b.literal("{"), ref(json.ws()), b.literal("}")));
      }
      boolean anyValue = extra == null || extra.isBoolean();
      int value = anyValue ? -1 : schema(extra, path + ".additionalProperties");
      return keywords ? anyKeywords(value < 0 ? json.value() : value) : json.map(value);
    }
    List<int[]> members = new ArrayList<>();
    List<Boolean> optional = new ArrayList<>();
    Iterator<Map.Entry<String, JsonNode>> fields = props.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> f = fields.next();
      String memberPath = path + ".properties." + f.getKey();
      if (keywords && !IDENTIFIER.matcher(f.getKey()).matches()) {
        throw new SchemaException(
            memberPath,
            "a pythonic call passes its arguments by keyword, so a property name must be a Python"
                + " identifier ([A-Za-z_][A-Za-z0-9_]*), got '"
                + f.getKey()
                + "'");
      }
      int value = schema(f.getValue(), memberPath);
      // One rule per member: the alternatives below refer to it instead of copying it.
      int member =
          b.rule(
              "member " + f.getKey(),
              seq(
                  keywords ? b.literal(f.getKey()) : b.literal(quoted(f.getKey())),
                  ref(json.ws()),
                  separator,
                  ref(json.ws()),
                  ref(value),
                  ref(json.ws())));
      members.add(new int[] {ref(member)});
      optional.add(!required.contains(f.getKey()));
    }
    // first[i]: members i.. when none was written yet; after[i]: when one was, so "," leads.
    int n = members.size();
    int[] first = new int[n + 1];
    int[] after = new int[n + 1];
    for (int i = n; i >= 0; i--) {
      List<int[]> f = new ArrayList<>();
      List<int[]> a = new ArrayList<>();
      boolean restOptional = true;
      for (int j = i; j < n && restOptional; j++) {
        f.add(seq(members.get(j), ref(after[j + 1])));
        a.add(seq(b.literal(","), ref(json.ws()), members.get(j), ref(after[j + 1])));
        restOptional = optional.get(j);
      }
      if (restOptional) {
        f.add(new int[0]);
        a.add(new int[0]);
      }
      first[i] = b.rule("members", f.toArray(new int[0][]));
      after[i] = b.rule("more-members", a.toArray(new int[0][]));
    }
    if (keywords) {
      return first[0];
    }
    return b.rule("object", seq(b.literal("{"), ref(json.ws()), ref(first[0]), b.literal("}")));
  }

  /** Keyword arguments of any names, each value matching {@code value}: {@code a=1, b=2}. */
  private int anyKeywords(int value) {
    int start = json.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_");
    int rest = json.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789");
    int name =
        b.rule(
            "identifier", seq(start, ref(json.repeat("identifier-rest", new int[] {rest}, 0, 64))));
    int member =
        b.rule(
            "keyword",
            seq(
                ref(name),
                ref(json.ws()),
                b.literal("="),
                ref(json.ws()),
                ref(value),
                ref(json.ws())));
    int more = b.rule("keywords");
    b.define(more, seq(b.literal(","), ref(json.ws()), ref(member), ref(more)), new int[0]);
    return b.rule("any keywords", seq(ref(member), ref(more)), new int[0]);
  }

  private int array(JsonNode s, String path) {
    int min = bound(s, "minItems", 0, path);
    int max = bound(s, "maxItems", -1, path);
    if (max >= 0 && max < min) {
      throw new SchemaException(path + ".maxItems", "maxItems is below minItems");
    }
    JsonNode items = s.get("items");
    int item = items == null ? json.value() : schema(items, path + ".items");
    return json.list("array", ref(item), min, max);
  }

  private int string(JsonNode s, String path) {
    int min = bound(s, "minLength", 0, path);
    int max = bound(s, "maxLength", -1, path);
    if (max >= 0 && max < min) {
      throw new SchemaException(path + ".maxLength", "maxLength is below minLength");
    }
    JsonNode format = s.get("format");
    if (format != null) {
      if (s.has("minLength") || s.has("maxLength")) {
        throw new SchemaException(
            path + ".format", "format together with minLength or maxLength is not supported");
      }
      return StringFormats.rule(json, format.asText(), path + ".format");
    }
    return min == 0 && max < 0 ? json.string() : json.string(min, max);
  }

  private int bound(JsonNode s, String keyword, int absent, String path) {
    JsonNode v = s.get(keyword);
    if (v == null) {
      return absent;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() < 0) {
      throw new SchemaException(path + "." + keyword, keyword + " must be an integer >= 0");
    }
    if (v.intValue() > JsonRules.MAX_BOUND) {
      throw new SchemaException(
          path + "." + keyword, keyword + " above " + JsonRules.MAX_BOUND + " is not supported");
    }
    return v.intValue();
  }

  private int literals(List<JsonNode> values, String path) {
    int[][] alternatives = new int[values.size()][];
    for (int i = 0; i < values.size(); i++) {
      try {
        // As text, then UTF-8: the byte writer would escape characters beyond the BMP.
        alternatives[i] = b.literal(json.literal(values.get(i)));
      } catch (JsonProcessingException e) {
        throw new SchemaException(path, "cannot write value " + i + ": " + e.getMessage());
      }
    }
    return b.rule("literal", alternatives);
  }

  private int reference(JsonNode ref, String path) {
    if (!ref.isTextual()) {
      throw new SchemaException(path, "$ref must be a string");
    }
    String pointer = ref.textValue();
    Integer known = refs.get(pointer);
    if (known != null) {
      return known;
    }
    if (!pointer.equals("#") && !pointer.startsWith("#/")) {
      throw new SchemaException(path, "only local references (#/$defs/...) are supported");
    }
    JsonNode target;
    try {
      target = root.at(pointer.substring(1));
    } catch (IllegalArgumentException e) {
      throw new SchemaException(path, "$ref " + pointer + " is not a JSON pointer");
    }
    if (target.isMissingNode()) {
      throw new SchemaException(path, "$ref " + pointer + " points at nothing");
    }
    // Define a rule before compiling its target so that recursive references find it.
    int rule = b.rule("ref " + pointer);
    refs.put(pointer, rule);
    int body = schema(target, path + "(" + pointer + ")");
    b.define(rule, new int[] {ref(body)});
    return rule;
  }

  private static byte[] quoted(String name) {
    try {
      return JSON.writeValueAsString(name).getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
