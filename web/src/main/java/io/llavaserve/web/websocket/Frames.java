package io.llavaserve.web.websocket;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.openai.ChatFormat;
import io.llavaserve.web.openai.ResponseFormat;
import io.llavaserve.web.openai.TokenText;
import io.llavaserve.web.openai.toolparsers.ToolParser;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** The JSON frames the server sends on {@code /v1/ws}, each tagged with the client's id. */
final class Frames {

  private Frames() {}

  /**
   * {@code {"type":"token","id","choice","index","text","token_id"}}, with logprobs when asked;
   * {@code choice} is the request's choice (0 unless it asked for {@code n > 1}).
   */
  static JsonObject token(String id, TokenEvent.Token t, boolean logprobs, TokenText tokenText) {
    JsonObject frame =
        new JsonObject()
            .put("type", "token")
            .put("id", id)
            .put("choice", t.choice())
            .put("index", t.index())
            .put("text", t.text())
            .put("token_id", t.tokenId());
    if (logprobs) {
      JsonArray top = new JsonArray();
      for (TokenLogprob alt : t.topLogprobs()) {
        top.add(
            new JsonObject()
                .put("token", tokenText.of(alt.tokenId()).text())
                .put("logprob", alt.logprob()));
      }
      frame.put("logprob", t.logprob()).put("top_logprobs", top);
    }
    return frame;
  }

  /**
   * {@code {"type":"done","id","choice","finish_reason","text","usage"}}: one per choice, each with
   * that choice's usage.
   */
  static JsonObject done(String id, int choice, FinishReason reason, String text, Usage usage) {
    return new JsonObject()
        .put("type", "done")
        .put("id", id)
        .put("choice", choice)
        .put("finish_reason", reason.wireName())
        .put("text", text)
        .put("usage", ResponseFormat.usage(usage));
  }

  /**
   * Adds a chat answer's tool calls to its done frame: {@code tool_calls} in OpenAI's shape, {@code
   * content} (the text outside them, null when blank) and {@code finish_reason} {@code tool_calls};
   * the token frames carried the raw text.
   */
  static void withToolCalls(JsonObject done, ToolParser.Parsed parsed, FinishReason reason) {
    if (parsed.calls().isEmpty()) {
      return;
    }
    done.put("content", parsed.content()).put("tool_calls", ChatFormat.toolCalls(parsed.calls()));
    if (reason == FinishReason.STOP) {
      done.put("finish_reason", "tool_calls");
    }
  }

  /** {@code {"type":"error","id","error":{"message","type","param","code","status"}}}. */
  static JsonObject error(String id, ApiError e) {
    JsonObject error = e.toJson().getJsonObject("error").put("status", e.status());
    return new JsonObject().put("type", "error").put("id", id).put("error", error);
  }
}
