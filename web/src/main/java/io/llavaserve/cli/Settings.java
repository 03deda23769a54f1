package io.llavaserve.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * Configuration in layers: the defaults in {@code conf/llava-serve.properties} (bundled in the
 * jar), then an optional file ({@code --config} or {@code LLAVA_SERVE_CONFIG}), then environment
 * variables ({@code LLAVA_SERVE_MODEL_KV_CACHE_MB} for {@code model.kv-cache-mb}), then the
 * command-line flags, each given as the key it overrides ({@link #with}). Read once, at start, and
 * mapped to records by {@link ServingConfig} alone.
 */
final class Settings {

  static final String DEFAULTS = "/llava-serve.properties";
  static final String ENV_PREFIX = "LLAVA_SERVE_";

  private final Properties values;

  private Settings(Properties values) {
    this.values = values;
  }

  /** Defaults, then {@code file} (may be null), then {@code env}. */
  static Settings load(Path file, Map<String, String> env) throws IOException {
    Properties p = new Properties();
    try (InputStream in = Settings.class.getResourceAsStream(DEFAULTS)) {
      if (in == null) {
        throw new IOException("classpath resource " + DEFAULTS + " is missing from the build");
      }
      p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
    }
    Path chosen = file != null ? file : envPath(env.get(ENV_PREFIX + "CONFIG"));
    if (chosen != null) {
      if (!Files.isRegularFile(chosen)) {
        throw new IOException("config file " + chosen + " does not exist");
      }
      try (Reader r = Files.newBufferedReader(chosen, StandardCharsets.UTF_8)) {
        p.load(r);
      }
    }
    for (String key : p.stringPropertyNames()) {
      String v = env.get(envName(key));
      if (v != null) {
        p.setProperty(key, v);
      }
    }
    return new Settings(p);
  }

  static Settings load(Path file) throws IOException {
    return load(file, System.getenv());
  }

  /**
   * These settings under a layer of flags: each entry's value (a flag given on the command line)
   * wins over the key's value in every other layer.
   *
   * @throws IllegalArgumentException for a key no layer defines (a flag mapped to a wrong key)
   */
  Settings with(Map<String, String> flags) {
    Properties p = new Properties();
    p.putAll(values);
    flags.forEach(
        (key, value) -> {
          if (!values.containsKey(key)) {
            throw new IllegalArgumentException("configuration key " + key + " is not defined");
          }
          p.setProperty(key, value);
        });
    return new Settings(p);
  }

  /**
   * A flag layer for {@link #with}: {@code key, value} pairs, those whose value is null (a flag not
   * given) left out.
   */
  static Map<String, String> flags(Object... keyValues) {
    Map<String, String> flags = new java.util.LinkedHashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      if (keyValues[i + 1] != null) {
        flags.put((String) keyValues[i], keyValues[i + 1].toString());
      }
    }
    return flags;
  }

  /** {@code model.kv-cache-mb} -> {@code LLAVA_SERVE_MODEL_KV_CACHE_MB}. */
  static String envName(String key) {
    return ENV_PREFIX + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  private static Path envPath(String v) {
    return v == null || v.isBlank() ? null : Path.of(v);
  }

  String string(String key) {
    String v = values.getProperty(key);
    if (v == null) {
      throw new IllegalArgumentException("configuration key " + key + " is not defined");
    }
    return v.trim();
  }

  /** The value of {@code key}, or null when no layer defines it. */
  String optional(String key) {
    String v = values.getProperty(key);
    return v == null ? null : v.trim();
  }

  long longValue(String key) {
    try {
      return Long.parseLong(string(key));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "configuration key " + key + " must be an integer, got \"" + string(key) + "\"");
    }
  }

  int intValue(String key) {
    long v = longValue(key);
    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("configuration key " + key + " is out of range: " + v);
    }
    return (int) v;
  }

  boolean bool(String key) {
    String v = string(key).toLowerCase(Locale.ROOT);
    if (!v.equals("true") && !v.equals("false")) {
      throw new IllegalArgumentException(
          "configuration key " + key + " must be true or false, got \"" + v + "\"");
    }
    return v.equals("true");
  }
}
