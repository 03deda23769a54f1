package io.llavaserve.web.openai;

import io.llavaserve.engine.prompt.ToolCall;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.sampling.SamplingParams;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A parsed and checked chat-completions or completions request, before any image is decoded.
 *
 * @param endpoint the endpoint whose body this was
 * @param model the requested model id, or null
 * @param messages chat messages, or null for a completions request
 * @param prompt the completions prompt, or null for a chat request
 * @param sampling validated parameters; {@code max_tokens} is the limit when the client gave none
 * @param maxTokensGiven whether the client set {@code max_tokens} (else it shrinks to fit the
 *     context)
 * @param stream answer with server-sent events
 * @param includeUsage add a usage chunk to the stream
 * @param tools the tools a chat request offers and how they may be used; {@link ToolUse#NONE} for
 *     completions
 * @param n how many choices to sample
 */
public record OpenAiRequest(
    Endpoint endpoint,
    String model,
    List<Message> messages,
    String prompt,
    SamplingParams sampling,
    boolean maxTokensGiven,
    boolean stream,
    boolean includeUsage,
    ToolUse tools,
    int n) {

  /**
   * A chat message whose images are still URLs.
   *
   * @param toolCalls an assistant message's calls
   * @param toolCallId the call a tool message answers, else null
   */
  record Message(String role, List<Part> parts, List<ToolCall> toolCalls, String toolCallId) {}

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

  /**
   * This request answered by a model that writes tool calls in {@code syntax}: its tools bound to
   * it ({@link ToolsParser#bind}) and its sampling as the calls need, when it reads calls: the
   * grammar of forced calls, the special tokens kept where the format's marker is one, the format's
   * stop tokens. A request without tools is returned as it is.
   *
   * @throws io.llavaserve.web.errors.ApiError 400 when a forced call's schema cannot be honoured
   */
  public OpenAiRequest withToolSyntax(ToolCallSyntax syntax) {
    if (!tools.parsesCalls()) {
      return this;
    }
    ToolUse bound = ToolsParser.bind(tools, syntax);
    SamplingParams.Builder b = sampling.toBuilder();
    bound.grammar().ifPresent(b::grammar);
    if (syntax.keepSpecialTokens()) {
      b.skipSpecialTokens(false);
    }
    if (!syntax.stopTokenIds().isEmpty()) {
      Set<Integer> stops = new HashSet<>(sampling.stopTokenIds());
      stops.addAll(syntax.stopTokenIds());
      b.stopTokenIds(stops);
    }
    return new OpenAiRequest(
        endpoint,
        model,
        messages,
        prompt,
        b.build(),
        maxTokensGiven,
        stream,
        includeUsage,
        bound,
        n);
  }

  /** Whether the answer reports logprobs. */
  public boolean logprobs() {
    return sampling.logprobs() >= 0;
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
