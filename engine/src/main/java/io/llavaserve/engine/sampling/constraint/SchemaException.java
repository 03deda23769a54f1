package io.llavaserve.engine.sampling.constraint;

/**
 * A JSON schema this package cannot turn into a grammar: a keyword that would change the output but
 * is not supported, or a malformed schema. {@link #path()} names the place in the request, such as
 * {@code response_format.json_schema.schema.properties.age.minimum}.
 */
public final class SchemaException extends IllegalArgumentException {

  private final String path;

  public SchemaException(String path, String message) {
    super(path + ": " + message);
    this.path = path;
  }

  /** Where in the request the problem is. */
  public String path() {
    return path;
  }
}
