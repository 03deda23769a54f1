package io.llavaserve.web.openai;

import java.util.List;

/**
 * A parsed and checked chat-completions or completions request, before any image is decoded.
 *
 * @param model the requested model id, or null
 * @param messages chat messages, or null for a completions request
 * @param prompt the completions prompt, or null for a chat request
 * @param sampling sampling parameters
 * @param stream answer with server-sent events
 * @param includeUsage add a usage chunk to the stream
 */
public record OpenAiRequest(
    String model,
    List<Message> messages,
    String prompt,
    SamplingParser.Parsed sampling,
    boolean stream,
    boolean includeUsage) {

  /** A chat message whose images are still URLs. */
  record Message(String role, List<Part> parts) {}

  /** One content part. */
  sealed interface Part permits Text, Image {}

  record Text(String text) implements Part {}

  /**
   * @param url a {@code data:image/...;base64,} URI or an http(s) URL
   * @param param the field path, for errors: {@code messages[0].content[1].image_url}
   */
  record Image(String url, String param) implements Part {
    boolean isDataUri() {
      return url.startsWith("data:");
    }
  }

  boolean chat() {
    return messages != null;
  }

  List<Image> images() {
    return messages == null
        ? List.of()
        : messages.stream()
            .flatMap(m -> m.parts().stream())
            .filter(p -> p instanceof Image)
            .map(p -> (Image) p)
            .toList();
  }
}
