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

  /**
   * @param format the answer's shape, from its endpoint
   * @param logprobs whether the answer reports logprobs
   */
  public WholeAnswer(ResponseFormat format, boolean logprobs) {
    this.format = format;
    this.logprobs = logprobs;
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
