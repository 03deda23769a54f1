package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/** {@code text_completion} objects of the legacy completions endpoint, streamed or whole. */
final class TextFormat implements ResponseFormat {

  private final Meta meta;
  private final TokenText tokenText;
  private int textOffset;

  TextFormat(Meta meta, TokenText tokenText) {
    this.meta = meta;
    this.tokenText = tokenText;
  }

  @Override
  public JsonObject firstChunk() {
    return null;
  }

  @Override
  public JsonObject deltaChunk(String text, List<TokenEvent.Token> tokens) {
    return object(text, logprobs(tokens), null);
  }

  @Override
  public JsonObject finishChunk(FinishReason reason) {
    return object("", null, reason.wireName());
  }

  @Override
  public JsonObject usageChunk(Usage usage) {
    return meta.head("text_completion")
        .put("choices", new JsonArray())
        .put("usage", ResponseFormat.usage(usage));
  }

  @Override
  public JsonObject completion(
      String text, FinishReason reason, Usage usage, List<TokenEvent.Token> tokens) {
    return object(text, logprobs(tokens), reason.wireName())
        .put("usage", ResponseFormat.usage(usage));
  }

  private JsonObject object(String text, JsonObject logprobs, String finishReason) {
    JsonObject choice =
        new JsonObject()
            .put("index", 0)
            .put("text", text)
            .put("logprobs", logprobs)
            .put("finish_reason", finishReason);
    return meta.head("text_completion").put("choices", new JsonArray().add(choice));
  }

  /** {@code {tokens, token_logprobs, top_logprobs, text_offset}}, or null when not requested. */
  private JsonObject logprobs(List<TokenEvent.Token> tokens) {
    if (!meta.logprobs()) {
      return null;
    }
    JsonArray texts = new JsonArray();
    JsonArray logprobs = new JsonArray();
    JsonArray tops = new JsonArray();
    JsonArray offsets = new JsonArray();
    for (TokenEvent.Token t : tokens) {
      String piece = tokenText.of(t.tokenId()).text();
      texts.add(piece);
      logprobs.add(t.logprob());
      JsonObject top = new JsonObject();
      for (TokenLogprob alt : t.topLogprobs()) {
        top.put(tokenText.of(alt.tokenId()).text(), alt.logprob());
      }
      tops.add(top);
      offsets.add(textOffset);
      textOffset += piece.length();
    }
    return new JsonObject()
        .put("tokens", texts)
        .put("token_logprobs", logprobs)
        .put("top_logprobs", tops)
        .put("text_offset", offsets);
  }
}
