package io.llavaserve.engine.prompt;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One message of a chat conversation.
 *
 * @param role {@code system}, {@code user}, {@code assistant} or {@code tool}
 * @param content the message's parts, in order; images are counted in this order. An assistant
 *     message that only calls tools has none.
 * @param toolCalls the functions an assistant message calls; empty for other roles
 * @param toolCallId the call a {@code tool} message answers; null for other roles
 */
public record ChatMessage(
    String role, List<ContentPart> content, List<ToolCall> toolCalls, String toolCallId) {

  private static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");

  public ChatMessage {
    Objects.requireNonNull(role, "role");
    if (!ROLES.contains(role)) {
      throw new IllegalArgumentException(
          "role must be one of system, user, assistant, tool; got '" + role + "'");
    }
    Objects.requireNonNull(content, "content");
    content = List.copyOf(content); // also rejects null parts
    toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    if (!role.equals("user") && content.stream().anyMatch(p -> p instanceof ContentPart.Image)) {
      throw new IllegalArgumentException(
          "only user messages may contain images; got a " + role + " message with one");
    }
    if (!toolCalls.isEmpty() && !role.equals("assistant")) {
      throw new IllegalArgumentException("only assistant messages may call tools");
    }
    if (role.equals("tool") != (toolCallId != null)) {
      throw new IllegalArgumentException("a tool message, and only one, names the call it answers");
    }
  }

  /** A message of the given parts, calling no tool. */
  public ChatMessage(String role, List<ContentPart> content) {
    this(role, content, List.of(), null);
  }

  /** A message whose content is a single text part. */
  public static ChatMessage text(String role, String text) {
    return new ChatMessage(role, List.of(new ContentPart.Text(text)));
  }

  /** A message made of the given parts. */
  public static ChatMessage of(String role, ContentPart... parts) {
    return new ChatMessage(role, List.of(parts));
  }

  /** An assistant message calling tools, with optional text. */
  public static ChatMessage toolCalls(String text, List<ToolCall> calls) {
    List<ContentPart> content = text == null ? List.of() : List.of(new ContentPart.Text(text));
    return new ChatMessage("assistant", content, calls, null);
  }

  /** A tool's result, answering call {@code toolCallId}. */
  public static ChatMessage toolResult(String toolCallId, String text) {
    return new ChatMessage("tool", List.of(new ContentPart.Text(text)), List.of(), toolCallId);
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
