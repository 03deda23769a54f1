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

  /** The chunk that opens a stream, or null when the endpoint has none. */
  JsonObject firstChunk();

  /** A chunk carrying text, with the logprobs of {@code tokens} when they were requested. */
  JsonObject deltaChunk(String text, List<TokenEvent.Token> tokens);

  JsonObject finishChunk(FinishReason reason);

  /**
   * The chunks a token's text makes, in order: none when it is empty and logprobs were not asked
   * for, or when the answer holds it back (a chat answer reading tool calls).
   */
  default List<JsonObject> deltaChunks(String text, List<TokenEvent.Token> tokens) {
    return text.isEmpty() && tokens.isEmpty() ? List.of() : List.of(deltaChunk(text, tokens));
  }

  /** The chunks that end a stream: whatever was held back, then the finish chunk. */
  default List<JsonObject> endChunks(FinishReason reason) {
    return List.of(finishChunk(reason));
  }

  /** The chunk that carries usage, with no choices. */
  JsonObject usageChunk(Usage usage);

  /** The whole answer of a request that did not stream. */
  JsonObject completion(
      String text, FinishReason reason, Usage usage, List<TokenEvent.Token> tokens);

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
