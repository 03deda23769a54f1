package io.llavaserve.engine.prompt;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One message of a chat conversation.
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content the message's parts, in order; images are counted in this order
 */
public record ChatMessage(String role, List<ContentPart> content) {

  private static final Set<String> ROLES = Set.of("system", "user", "assistant");

  public ChatMessage {
    Objects.requireNonNull(role, "role");
    if (!ROLES.contains(role)) {
      throw new IllegalArgumentException(
          "role must be one of system, user, assistant; got '" + role + "'");
    }
    Objects.requireNonNull(content, "content");
    content = List.copyOf(content); // also rejects null parts
    if (!role.equals("user") && content.stream().anyMatch(p -> p instanceof ContentPart.Image)) {
      throw new IllegalArgumentException(
          "only user messages may contain images; got a " + role + " message with one");
    }
  }

  /** A message whose content is a single text part. */
  public static ChatMessage text(String role, String text) {
    return new ChatMessage(role, List.of(new ContentPart.Text(text)));
  }

  /** A message made of the given parts. */
  public static ChatMessage of(String role, ContentPart... parts) {
    return new ChatMessage(role, List.of(parts));
  }

  /** Number of image parts. */
  public int imageCount() {
    return (int) content.stream().filter(p -> p instanceof ContentPart.Image).count();
  }

  /** The text parts joined by single spaces. */
  public String joinedText() {
    return String.join(
        " ",
        content.stream()
            .filter(p -> p instanceof ContentPart.Text)
            .map(p -> ((ContentPart.Text) p).text())
            .toList());
  }
}
