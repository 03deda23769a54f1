package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code chat.completion} and {@code chat.completion.chunk} objects. When the request offers tools,
 * the answer's text is read for calls ({@link ToolCallStream}): they become {@code
 * message.tool_calls[]}, or tool-call deltas in a stream (the first of a call with its index, id,
 * type and name, the next ones with pieces of its arguments), and {@code finish_reason} is {@code
 * tool_calls}. The logprobs of text held back while it could start a call go with the next content
 * chunk, those of a call's text nowhere.
 */
public final class ChatFormat implements ResponseFormat {

  private final Meta meta;
  private final TokenText tokenText;
  private final ToolCallStream calls; // null when no tools are offered
  private final List<TokenEvent.Token> held = new ArrayList<>();

  public ChatFormat(Meta meta, TokenText tokenText) {
    this.meta = meta;
    this.tokenText = tokenText;
    ToolUse tools = meta.tools();
    this.calls = tools.parsesCalls() ? new ToolCallStream(tools.callable(), tools.forced()) : null;
  }

  @Override
  public JsonObject firstChunk() {
    return chunk(new JsonObject().put("role", "assistant").put("content", ""), null, null);
  }

  @Override
  public JsonObject deltaChunk(String text, List<TokenEvent.Token> tokens) {
    return chunk(new JsonObject().put("content", text), logprobs(tokens), null);
  }

  @Override
  public JsonObject finishChunk(FinishReason reason) {
    return chunk(new JsonObject(), null, finishReason(reason, calls != null && calls.hasCalls()));
  }

  @Override
  public List<JsonObject> deltaChunks(String text, List<TokenEvent.Token> tokens) {
    if (calls == null) {
      return ResponseFormat.super.deltaChunks(text, tokens);
    }
    held.addAll(tokens);
    return chunks(calls.feed(text));
  }

  @Override
  public List<JsonObject> endChunks(FinishReason reason) {
    if (calls == null) {
      return ResponseFormat.super.endChunks(reason);
    }
    List<JsonObject> out = new ArrayList<>(chunks(calls.finish()));
    out.add(finishChunk(reason));
    return out;
  }

  private List<JsonObject> chunks(List<ToolCallStream.Piece> pieces) {
    List<JsonObject> out = new ArrayList<>();
    for (ToolCallStream.Piece piece : pieces) {
      if (piece instanceof ToolCallStream.Content c) {
        out.add(deltaChunk(c.text(), List.copyOf(held)));
        held.clear();
      } else if (piece instanceof ToolCallStream.CallStart c) {
        JsonObject function = new JsonObject().put("name", c.name()).put("arguments", "");
        out.add(
            toolCallChunk(
                new JsonObject()
                    .put("index", c.index())
                    .put("id", c.id())
                    .put("type", "function")
                    .put("function", function)));
      } else if (piece instanceof ToolCallStream.Arguments a) {
        JsonObject function = new JsonObject().put("arguments", a.fragment());
        out.add(toolCallChunk(new JsonObject().put("index", a.index()).put("function", function)));
      }
    }
    return out;
  }

  private JsonObject toolCallChunk(JsonObject call) {
    return chunk(new JsonObject().put("tool_calls", new JsonArray().add(call)), null, null);
  }

  /** {@code tool_calls} when the answer called tools and ended by itself. */
  private static String finishReason(FinishReason reason, boolean called) {
    return called && reason == FinishReason.STOP ? "tool_calls" : reason.wireName();
  }

  /** OpenAI's {@code message.tool_calls}. */
  public static JsonArray toolCalls(List<ToolCallStream.Call> calls) {
    JsonArray out = new JsonArray();
    for (ToolCallStream.Call c : calls) {
      out.add(
          new JsonObject()
              .put("id", c.id())
              .put("type", "function")
              .put(
                  "function",
                  new JsonObject().put("name", c.name()).put("arguments", c.arguments())));
    }
    return out;
  }

  @Override
  public JsonObject usageChunk(Usage usage) {
    return meta.head("chat.completion.chunk")
        .put("choices", new JsonArray())
        .put("usage", ResponseFormat.usage(usage));
  }

  @Override
  public JsonObject completion(
      String text, FinishReason reason, Usage usage, List<TokenEvent.Token> tokens) {
    JsonObject message =
        new JsonObject().put("role", "assistant").put("content", text).putNull("refusal");
    boolean called = false;
    if (calls != null) {
      ToolUse tools = meta.tools();
      ToolCallStream.Parsed parsed = ToolCallStream.parse(tools.callable(), tools.forced(), text);
      message.put("content", parsed.content());
      if (!parsed.calls().isEmpty()) {
        message.put("tool_calls", toolCalls(parsed.calls()));
        called = true;
      }
    }
    JsonObject choice =
        new JsonObject()
            .put("index", 0)
            .put("message", message)
            .put("logprobs", logprobs(tokens))
            .put("finish_reason", finishReason(reason, called));
    return meta.head("chat.completion")
        .put("choices", new JsonArray().add(choice))
        .put("usage", ResponseFormat.usage(usage));
  }

  private JsonObject chunk(JsonObject delta, JsonObject logprobs, String finishReason) {
    JsonObject choice =
        new JsonObject()
            .put("index", 0)
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
