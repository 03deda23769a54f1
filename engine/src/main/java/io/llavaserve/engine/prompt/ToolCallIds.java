package io.llavaserve.engine.prompt;

import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Optional;
import java.util.random.RandomGenerator;

/** What the ids of the calls in an answer look like. */
public enum ToolCallIds {

  /** OpenAI's: {@code call_} and 24 letters or digits. */
  OPENAI("openai", "call_", 24),

  /**
   * Mistral's: 9 letters or digits, which Mistral's templates insist on (they raise "Tool call IDs
   * should be alphanumeric strings with length 9!" for any other id sent back in a conversation).
   */
  MISTRAL("mistral", "", 9);

  private static final String ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  private static final RandomGenerator RANDOM = new SecureRandom();

  private final String wireName;
  private final String prefix;
  private final int length;

  ToolCallIds(String wireName, String prefix, int length) {
    this.wireName = wireName;
    this.prefix = prefix;
    this.length = length;
  }

  /** The name this style travels under between cluster nodes. */
  public String wireName() {
    return wireName;
  }

  public static Optional<ToolCallIds> ofWireName(String name) {
    return Arrays.stream(values()).filter(i -> i.wireName.equals(name)).findFirst();
  }

  /** A fresh random id. */
  public String newId() {
    StringBuilder id = new StringBuilder(prefix);
    for (int i = 0; i < length; i++) {
      id.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
    }
    return id.toString();
  }

  /** Whether {@code id} is one of this style's. */
  public boolean matches(String id) {
    if (id.length() != prefix.length() + length || !id.startsWith(prefix)) {
      return false;
    }
    return id.substring(prefix.length()).chars().allMatch(c -> ALPHABET.indexOf(c) >= 0);
  }
}
