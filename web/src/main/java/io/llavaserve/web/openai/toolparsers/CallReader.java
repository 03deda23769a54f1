package io.llavaserve.web.openai.toolparsers;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.prompt.ToolCallIds;
import java.io.IOException;
import java.util.Set;

/**
 * Reads one call's JSON object, as a format writes it, into a {@link ToolParser.Call}: an object
 * whose {@code name} is a declared function and whose arguments (under one of the format's keys)
 * are an object, or a string holding one, as some models write them; other keys only where the
 * format allows them (Mistral's {@code id}). The arguments are the text the model wrote for them.
 */
final class CallReader {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Set<String> names;
  private final Set<String> argumentKeys;
  private final Set<String> optionalKeys;
  private final ToolCallIds ids;

  /**
   * @param names the functions a call may name
   * @param argumentKeys the keys the arguments may come under, one of them in a call
   * @param optionalKeys other keys a call may have, ignored
   * @param ids what the calls' ids look like
   */
  CallReader(
      Set<String> names, Set<String> argumentKeys, Set<String> optionalKeys, ToolCallIds ids) {
    this.names = Set.copyOf(names);
    this.argumentKeys = Set.copyOf(argumentKeys);
    this.optionalKeys = Set.copyOf(optionalKeys);
    this.ids = ids;
  }

  /** The call {@code text} writes, or null when it is not a call of a declared function. */
  ToolParser.Call read(String text) {
    JsonNode node;
    try {
      node = JSON.readTree(text);
    } catch (IOException e) {
      return null;
    }
    if (node == null || !node.isObject() || !node.path("name").isTextual()) {
      return null;
    }
    String name = node.get("name").textValue();
    if (!names.contains(name)) {
      return null;
    }
    String key = null;
    for (var it = node.fieldNames(); it.hasNext(); ) {
      String field = it.next();
      if (argumentKeys.contains(field)) {
        if (key != null) {
          return null; // both "parameters" and "arguments"
        }
        key = field;
      } else if (!field.equals("name") && !optionalKeys.contains(field)) {
        return null;
      }
    }
    if (key == null) {
      return null;
    }
    JsonNode args = node.get(key);
    if (args.isTextual()) {
      try {
        JsonNode inner = JSON.readTree(args.textValue());
        return inner != null && inner.isObject()
            ? new ToolParser.Call(ids.newId(), name, inner.toString())
            : null;
      } catch (IOException e) {
        return null;
      }
    }
    if (!args.isObject()) {
      return null;
    }
    String raw = rawValue(text, key);
    return new ToolParser.Call(ids.newId(), name, raw != null ? raw : args.toString());
  }

  /** Whether {@code text} is one JSON object. */
  static boolean isObject(String text) {
    try {
      JsonNode node = JSON.readTree(text);
      return node != null && node.isObject();
    } catch (IOException e) {
      return false;
    }
  }

  /** The text of the top-level value under {@code key} in the object {@code text}. */
  private static String rawValue(String text, String key) {
    try (JsonParser p = JSON.getFactory().createParser(text)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        p.nextToken();
        int start = (int) p.currentTokenLocation().getCharOffset();
        p.skipChildren();
        if (field.equals(key)) {
          return text.substring(start, (int) p.currentLocation().getCharOffset());
        }
      }
      return null;
    } catch (IOException e) {
      return null;
    }
  }
}
