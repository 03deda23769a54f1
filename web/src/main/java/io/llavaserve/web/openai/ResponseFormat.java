package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * The JSON objects of one answer, in the shape of one endpoint ({@code chat.completion} or {@code
 * text_completion}); {@link Endpoint#format} makes one. One instance per request: it may track
 * offsets across chunks.
 */
public interface ResponseFormat {

  /** The chunk that opens choice {@code choice} of a stream, or null when the endpoint has none. */
  JsonObject firstChunk(int choice);

  /**
   * A chunk carrying text of choice {@code choice}, with the logprobs of {@code tokens} when they
   * were requested.
   */
  JsonObject deltaChunk(int choice, String text, List<TokenEvent.Token> tokens);

  JsonObject finishChunk(int choice, FinishReason reason);

  /**
   * The chunks a token's text makes, in order: none when it is empty and logprobs were not asked
   * for, or when the answer holds it back (a chat answer reading tool calls).
   */
  default List<JsonObject> deltaChunks(int choice, String text, List<TokenEvent.Token> tokens) {
    return text.isEmpty() && tokens.isEmpty()
        ? List.of()
        : List.of(deltaChunk(choice, text, tokens));
  }

  /** The chunks that end choice {@code choice}: whatever was held back, then its finish chunk. */
  default List<JsonObject> endChunks(int choice, FinishReason reason) {
    return List.of(finishChunk(choice, reason));
  }

  /** The chunk that carries usage, with no choices. */
  JsonObject usageChunk(Usage usage);

  /** The whole answer of a request that did not stream: its choices in index order. */
  JsonObject completion(List<Choice> choices, Usage usage);

  /**
   * One whole choice.
   *
   * @param index its {@code choices[i].index}
   * @param text the answer
   * @param reason why it ended
   * @param tokens its tokens, when logprobs were requested (else empty)
   */
  record Choice(int index, String text, FinishReason reason, List<TokenEvent.Token> tokens) {}

  /** OpenAI's {@code usage} object. */
  static JsonObject usage(Usage u) {
    return new JsonObject()
        .put("prompt_tokens", u.promptTokens())
        .put("completion_tokens", u.completionTokens())
        .put("total_tokens", u.totalTokens())
        .put(
            "prompt_tokens_details", new JsonObject().put("cached_tokens", u.cachedPromptTokens()));
  }

  /**
   * Identifies one answer.
   *
   * @param id {@code chatcmpl-...} or {@code cmpl-...}
   * @param created Unix seconds
   * @param model the served model id
   * @param logprobs whether logprobs were requested
   * @param tools the request's tools, whose calls a chat answer reads from its text
   */
  record Meta(String id, long created, String model, boolean logprobs, ToolUse tools) {

    public Meta(String id, long created, String model, boolean logprobs) {
      this(id, created, model, logprobs, ToolUse.NONE);
    }

    JsonObject head(String object) {
      return new JsonObject()
          .put("id", id)
          .put("object", object)
          .put("created", created)
          .put("model", model);
    }
  }
}
