package io.llavaserve.web.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.sampling.constraint.Grammar;
import io.llavaserve.engine.sampling.constraint.GrammarCache;
import io.llavaserve.engine.sampling.constraint.SchemaException;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Reads OpenAI's {@code response_format} into the grammar that constrains decoding: {@code text}
 * (none), {@code json_object} (any JSON object) or {@code json_schema} with {@code name}, {@code
 * schema}, optional {@code strict} and {@code description}. Schemas are compiled once per digest
 * (see {@link GrammarCache}); a schema the compiler cannot honour is a 400 naming the keyword's
 * path, such as {@code response_format.json_schema.schema.properties.age.minimum}.
 */
final class ResponseFormatParser {

  private static final String FIELD = "response_format";
  private static final String SCHEMA = FIELD + ".json_schema";
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Grammars of recently seen schemas, shared by every request. */
  private static final GrammarCache GRAMMARS = new GrammarCache(64);

  private ResponseFormatParser() {}

  /** The grammar {@code body}'s response_format asks for; empty for free text. */
  static Optional<Grammar> parse(JsonObject body) {
    Object raw = body.getValue(FIELD);
    if (raw == null) {
      return Optional.empty();
    }
    if (!(raw instanceof JsonObject format)) {
      throw JsonFields.wrongType(FIELD, "an object", raw);
    }
    String type = JsonFields.string(format, "type", FIELD + ".type");
    if (type == null) {
      throw ApiError.badRequest(FIELD + ".type", FIELD + ".type is required");
    }
    return switch (type) {
      case "text" -> Optional.empty();
      case "json_object" -> Optional.of(GRAMMARS.anyObject());
      case "json_schema" -> Optional.of(schema(format));
      default ->
          throw ApiError.badRequest(
              FIELD + ".type",
              FIELD + ".type must be text, json_object or json_schema, got '" + type + "'");
    };
  }

  private static Grammar schema(JsonObject format) {
    JsonObject spec = JsonFields.object(format, "json_schema", SCHEMA);
    if (spec == null) {
      throw ApiError.badRequest(SCHEMA, SCHEMA + " is required when the type is json_schema");
    }
    String name = JsonFields.string(spec, "name", SCHEMA + ".name");
    if (name == null) {
      throw ApiError.badRequest(SCHEMA + ".name", SCHEMA + ".name is required");
    }
    if (!NAME.matcher(name).matches()) {
      throw ApiError.badRequest(
          SCHEMA + ".name",
          SCHEMA
              + ".name must be 1 to 64 letters, digits, underscores or dashes, got '"
              + name
              + "'");
    }
    JsonFields.bool(spec, "strict");
    JsonFields.string(spec, "description", SCHEMA + ".description");
    Object schema = spec.getValue("schema");
    if (schema == null) {
      throw ApiError.badRequest(SCHEMA + ".schema", SCHEMA + ".schema is required");
    }
    if (!(schema instanceof JsonObject object)) {
      throw JsonFields.wrongType(SCHEMA + ".schema", "an object (a JSON schema)", schema);
    }
    JsonNode tree;
    try {
      tree = JSON.readTree(object.encode());
    } catch (IOException e) {
      throw ApiError.badRequest(SCHEMA + ".schema", SCHEMA + ".schema: " + e.getMessage());
    }
    try {
      return GRAMMARS.schema(tree, SCHEMA + ".schema");
    } catch (SchemaException e) {
      throw ApiError.badRequest(e.path(), e.getMessage());
    }
  }
}
