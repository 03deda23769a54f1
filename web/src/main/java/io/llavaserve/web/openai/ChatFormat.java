package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/** {@code chat.completion} and {@code chat.completion.chunk} objects. */
final class ChatFormat implements ResponseFormat {

  private final Meta meta;
  private final TokenText tokenText;

  ChatFormat(Meta meta, TokenText tokenText) {
    this.meta = meta;
    this.tokenText = tokenText;
  }

  @Override
  public JsonObject firstChunk(int choice) {
    return chunk(choice, new JsonObject().put("role", "assistant").put("content", ""), null, null);
  }

  @Override
  public JsonObject deltaChunk(int choice, String text, List<TokenEvent.Token> tokens) {
    return chunk(choice, new JsonObject().put("content", text), logprobs(tokens), null);
  }

  @Override
  public JsonObject finishChunk(int choice, FinishReason reason) {
    return chunk(choice, new JsonObject(), null, reason.wireName());
  }

  @Override
  public JsonObject usageChunk(Usage usage) {
    return meta.head("chat.completion.chunk")
        .put("choices", new JsonArray())
        .put("usage", ResponseFormat.usage(usage));
  }

  @Override
  public JsonObject completion(List<Choice> choices, Usage usage) {
    JsonArray array = new JsonArray();
    for (Choice c : choices) {
      JsonObject message =
          new JsonObject().put("role", "assistant").put("content", c.text()).putNull("refusal");
      array.add(
          new JsonObject()
              .put("index", c.index())
              .put("message", message)
              .put("logprobs", logprobs(c.tokens()))
              .put("finish_reason", c.reason().wireName()));
    }
    return meta.head("chat.completion")
        .put("choices", array)
        .put("usage", ResponseFormat.usage(usage));
  }

  private JsonObject chunk(int index, JsonObject delta, JsonObject logprobs, String finishReason) {
    JsonObject choice =
        new JsonObject()
            .put("index", index)
            .put("delta", delta)
            .put("logprobs", logprobs)
            .put("finish_reason", finishReason);
    return meta.head("chat.completion.chunk").put("choices", new JsonArray().add(choice));
  }

  /** {@code {"content":[{token, logprob, bytes, top_logprobs}]}}, or null when not requested. */
  private JsonObject logprobs(List<TokenEvent.Token> tokens) {
    if (!meta.logprobs()) {
      return null;
    }
    JsonArray content = new JsonArray();
    for (TokenEvent.Token t : tokens) {
      JsonArray top = new JsonArray();
      for (TokenLogprob alt : t.topLogprobs()) {
        top.add(entry(alt.tokenId(), alt.logprob()));
      }
      content.add(entry(t.tokenId(), t.logprob()).put("top_logprobs", top));
    }
    return new JsonObject().put("content", content).putNull("refusal");
  }

  private JsonObject entry(int tokenId, float logprob) {
    TokenText.Piece p = tokenText.of(tokenId);
    JsonArray bytes = new JsonArray();
    for (byte b : p.bytes()) {
      bytes.add(b & 0xff);
    }
    return new JsonObject().put("token", p.text()).put("logprob", logprob).put("bytes", bytes);
  }
}
