package io.llavaserve.engine.sampling.constraint;

import com.fasterxml.jackson.databind.JsonNode;
import io.llavaserve.engine.prompt.ToolCallFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compiled grammars by schema digest, the {@link #capacity} used most recently, so that a client
 * sending one schema with every request compiles it once. Thread-safe: requests are parsed on many
 * event loops.
 */
public final class GrammarCache {

  private final int capacity;
  private final Map<String, Grammar> byDigest;
  private final Grammar anyObject = JsonSchemaGrammar.anyObject();

  public GrammarCache(int capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
    }
    this.capacity = capacity;
    this.byDigest =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, Grammar> eldest) {
            return size() > GrammarCache.this.capacity;
          }
        };
  }

  /** The grammar of any JSON object. */
  public Grammar anyObject() {
    return anyObject;
  }

  /**
   * The grammar of {@code schema}, compiled now or found.
   *
   * @param path where the schema sits in the request, for errors
   * @throws SchemaException when the schema cannot be compiled
   */
  public Grammar schema(JsonNode schema, String path) {
    String digest = JsonSchemaGrammar.digest(schema);
    synchronized (byDigest) {
      Grammar g = byDigest.get(digest);
      if (g != null) {
        return g;
      }
    }
    Grammar g = JsonSchemaGrammar.compile(schema, path); // outside the lock: may take a while
    synchronized (byDigest) {
      byDigest.putIfAbsent(digest, g);
    }
    return g;
  }

  /** As {@link #toolCalls(ToolCallFormat, List, boolean)} in the Hermes format. */
  public Grammar toolCalls(List<ToolCallGrammar.Function> functions, boolean many) {
    return toolCalls(ToolCallFormat.HERMES, functions, many);
  }

  /**
   * The grammar of calls to {@code functions} in {@code format} (see {@link ToolCallGrammar}),
   * compiled now or found.
   *
   * @throws SchemaException when a parameters schema cannot be compiled
   */
  public Grammar toolCalls(
      ToolCallFormat format, List<ToolCallGrammar.Function> functions, boolean many) {
    String digest = "tools:" + ToolCallGrammar.digest(format, functions, many);
    synchronized (byDigest) {
      Grammar g = byDigest.get(digest);
      if (g != null) {
        return g;
      }
    }
    Grammar g = ToolCallGrammar.compile(format, functions, many);
    synchronized (byDigest) {
      byDigest.putIfAbsent(digest, g);
    }
    return g;
  }
}
