package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code text_completion} objects of the legacy completions endpoint, streamed or whole. */
final class TextFormat implements ResponseFormat {

  private final Meta meta;
  private final TokenText tokenText;
  private final Map<Integer, Integer> textOffsets = new HashMap<>(); // by choice

  TextFormat(Meta meta, TokenText tokenText) {
    this.meta = meta;
    this.tokenText = tokenText;
  }

  @Override
  public JsonObject firstChunk(int choice) {
    return null;
  }

  @Override
  public JsonObject deltaChunk(int choice, String text, List<TokenEvent.Token> tokens) {
    return object(choice, text, logprobs(choice, tokens), null);
  }

  @Override
  public JsonObject finishChunk(int choice, FinishReason reason) {
    return object(choice, "", null, reason.wireName());
  }

  @Override
  public JsonObject usageChunk(Usage usage) {
    return meta.head("text_completion")
        .put("choices", new JsonArray())
        .put("usage", ResponseFormat.usage(usage));
  }

  @Override
  public JsonObject completion(List<Choice> choices, Usage usage) {
    JsonArray array = new JsonArray();
    for (Choice c : choices) {
      array.add(
          choice(c.index(), c.text(), logprobs(c.index(), c.tokens()), c.reason().wireName()));
    }
    return meta.head("text_completion")
        .put("choices", array)
        .put("usage", ResponseFormat.usage(usage));
  }

  private JsonObject object(int index, String text, JsonObject logprobs, String finishReason) {
    return meta.head("text_completion")
        .put("choices", new JsonArray().add(choice(index, text, logprobs, finishReason)));
  }

  private static JsonObject choice(
      int index, String text, JsonObject logprobs, String finishReason) {
    return new JsonObject()
        .put("index", index)
        .put("text", text)
        .put("logprobs", logprobs)
        .put("finish_reason", finishReason);
  }

  /** {@code {tokens, token_logprobs, top_logprobs, text_offset}}, or null when not requested. */
  private JsonObject logprobs(int choice, List<TokenEvent.Token> tokens) {
    if (!meta.logprobs()) {
      return null;
    }
    JsonArray texts = new JsonArray();
    JsonArray logprobs = new JsonArray();
    JsonArray tops = new JsonArray();
    JsonArray offsets = new JsonArray();
    int textOffset = textOffsets.getOrDefault(choice, 0);
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
    textOffsets.put(choice, textOffset);
    return new JsonObject()
        .put("tokens", texts)
        .put("token_logprobs", logprobs)
        .put("top_logprobs", tops)
        .put("text_offset", offsets);
  }
}
