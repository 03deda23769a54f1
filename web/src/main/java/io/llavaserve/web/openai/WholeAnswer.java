package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * Gathers one request's token events into the JSON object a non-streaming answer carries ({@code
 * chat.completion} or {@code text_completion}); used by the HTTP answer and by batch jobs so both
 * give the same body.
 */
public final class WholeAnswer {

  private final ResponseFormat format;
  private final boolean logprobs;
  private final StringBuilder text = new StringBuilder();
  private final List<TokenEvent.Token> tokens = new ArrayList<>();

  WholeAnswer(ResponseFormat format, boolean logprobs) {
    this.format = format;
    this.logprobs = logprobs;
  }

  /** An answer in the shape of {@code pipeline}'s endpoint. */
  public static WholeAnswer of(CompletionPipeline pipeline, String requestId, boolean logprobs) {
    ResponseFormat.Meta meta =
        new ResponseFormat.Meta(
            requestId, System.currentTimeMillis() / 1000, pipeline.served().id(), logprobs);
    ResponseFormat format =
        pipeline.isChat()
            ? new ChatFormat(meta, pipeline.tokenText())
            : new TextFormat(meta, pipeline.tokenText());
    return new WholeAnswer(format, logprobs);
  }

  /** The id prefix of an answer of this pipeline: {@code chatcmpl-} or {@code cmpl-}. */
  public static String idPrefix(CompletionPipeline pipeline) {
    return pipeline.isChat() ? "chatcmpl-" : "cmpl-";
  }

  public void add(TokenEvent.Token token) {
    text.append(token.text());
    if (logprobs) {
      tokens.add(token);
    }
  }

  /** The whole answer; {@code finished} must not carry an engine error. */
  public JsonObject finish(TokenEvent.Finished finished) {
    text.append(finished.text());
    return format.completion(text.toString(), finished.reason(), finished.usage(), tokens);
  }
}
