package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;

/**
 * Typed access to one object of a {@code config.json} for {@link LlavaConfigParser}: absent and
 * null fields both take the default, and a field of the wrong type fails naming the file and its
 * dotted path ({@code text_config.hidden_size}).
 */
final class ConfigFields {

  private static final ObjectMapper JSON = new ObjectMapper();

  final Path file;
  final JsonNode node;
  final String prefix;

  ConfigFields(Path file, JsonNode node, String prefix) {
    this.file = file;
    this.node = node;
    this.prefix = prefix;
  }

  boolean has(String name) {
    JsonNode v = node.get(name);
    return v != null && !v.isNull();
  }

  ConfigFields child(String name) throws CheckpointException {
    JsonNode v = node.get(name);
    if (!v.isObject()) {
      throw CheckpointException.field(file, prefix + name, "expected an object, got " + v);
    }
    return new ConfigFields(file, v, prefix + name + ".");
  }

  ConfigFields empty(String name) {
    return new ConfigFields(file, JSON.createObjectNode(), prefix + name + ".");
  }

  int integer(String name, int fallback) throws CheckpointException {
    if (!has(name)) {
      return fallback;
    }
    JsonNode v = node.get(name);
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw CheckpointException.field(file, prefix + name, "expected an integer, got " + v);
    }
    return v.intValue();
  }

  double number(String name, double fallback) throws CheckpointException {
    if (!has(name)) {
      return fallback;
    }
    JsonNode v = node.get(name);
    if (!v.isNumber()) {
      throw CheckpointException.field(file, prefix + name, "expected a number, got " + v);
    }
    return v.doubleValue();
  }

  String string(String name, String fallback) throws CheckpointException {
    if (!has(name)) {
      return fallback;
    }
    JsonNode v = node.get(name);
    if (!v.isTextual()) {
      throw CheckpointException.field(file, prefix + name, "expected a string, got " + v);
    }
    return v.textValue();
  }

  boolean bool(String name, boolean fallback) throws CheckpointException {
    if (!has(name)) {
      return fallback;
    }
    JsonNode v = node.get(name);
    if (!v.isBoolean()) {
      throw CheckpointException.field(file, prefix + name, "expected true or false, got " + v);
    }
    return v.booleanValue();
  }

  /** A feature layer index; newer configs may give a list, which llava-1.5 never uses. */
  int featureLayer(String name, int fallback) throws CheckpointException {
    if (has(name) && node.get(name).isArray()) {
      throw CheckpointException.field(
          file, prefix + name, node.get(name) + ": several feature layers are not supported");
    }
    return integer(name, fallback);
  }
}
