package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.llavaserve.web.openai.toolparsers.ToolParser;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code chat.completion} and {@code chat.completion.chunk} objects. When the request offers tools,
 * the answer's text is read for calls in its model's format ({@link ToolParser}): they become
 * {@code message.tool_calls[]}, or tool-call deltas in a stream (the first of a call with its
 * index, id, type and name, the next ones with pieces of its arguments), and {@code finish_reason}
 * is {@code tool_calls}. Each of a request's choices is read on its own. The logprobs of text held
 * back while it could start a call go with the next content chunk, those of a call's text nowhere.
 */
public final class ChatFormat implements ResponseFormat {

  private final Meta meta;
  private final TokenText tokenText;
  private final boolean readsCalls;

  /** Per streamed choice: its call reader and the tokens whose text it holds back. */
  private final java.util.Map<Integer, Reading> readings = new java.util.HashMap<>();

  private record Reading(ToolParser calls, List<TokenEvent.Token> held) {}

  public ChatFormat(Meta meta, TokenText tokenText) {
    this.meta = meta;
    this.tokenText = tokenText;
    this.readsCalls = meta.tools().parsesCalls();
  }

  private Reading reading(int choice) {
    return readings.computeIfAbsent(
        choice, c -> new Reading(meta.tools().newParser(), new ArrayList<>()));
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
    boolean called = readsCalls && reading(choice).calls().hasCalls();
    return chunk(choice, new JsonObject(), null, finishReason(reason, called));
  }

  @Override
  public List<JsonObject> deltaChunks(int choice, String text, List<TokenEvent.Token> tokens) {
    if (!readsCalls) {
      return ResponseFormat.super.deltaChunks(choice, text, tokens);
    }
    Reading r = reading(choice);
    r.held().addAll(tokens);
    return chunks(choice, r, r.calls().feed(text));
  }

  @Override
  public List<JsonObject> endChunks(int choice, FinishReason reason) {
    if (!readsCalls) {
      return ResponseFormat.super.endChunks(choice, reason);
    }
    Reading r = reading(choice);
    List<JsonObject> out = new ArrayList<>(chunks(choice, r, r.calls().finish()));
    out.add(finishChunk(choice, reason));
    return out;
  }

  private List<JsonObject> chunks(int choice, Reading r, List<ToolParser.Piece> pieces) {
    List<JsonObject> out = new ArrayList<>();
    for (ToolParser.Piece piece : pieces) {
      if (piece instanceof ToolParser.Content c) {
        out.add(deltaChunk(choice, c.text(), List.copyOf(r.held())));
        r.held().clear();
      } else if (piece instanceof ToolParser.CallStart c) {
        JsonObject function = new JsonObject().put("name", c.name()).put("arguments", "");
        out.add(
            toolCallChunk(
                choice,
                new JsonObject()
                    .put("index", c.index())
                    .put("id", c.id())
                    .put("type", "function")
                    .put("function", function)));
      } else if (piece instanceof ToolParser.Arguments a) {
        JsonObject function = new JsonObject().put("arguments", a.fragment());
        out.add(
            toolCallChunk(
                choice, new JsonObject().put("index", a.index()).put("function", function)));
      }
    }
    return out;
  }

  private JsonObject toolCallChunk(int choice, JsonObject call) {
    return chunk(choice, new JsonObject().put("tool_calls", new JsonArray().add(call)), null, null);
  }

  /** {@code tool_calls} when the answer called tools and ended by itself. */
  private static String finishReason(FinishReason reason, boolean called) {
    return called && reason == FinishReason.STOP ? "tool_calls" : reason.wireName();
  }

  /** OpenAI's {@code message.tool_calls}. */
  public static JsonArray toolCalls(List<ToolParser.Call> calls) {
    JsonArray out = new JsonArray();
    for (ToolParser.Call c : calls) {
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
  public JsonObject completion(List<Choice> choices, Usage usage) {
    JsonArray array = new JsonArray();
    for (Choice c : choices) {
      JsonObject message =
          new JsonObject().put("role", "assistant").put("content", c.text()).putNull("refusal");
      boolean called = false;
      if (readsCalls) {
        ToolParser.Parsed parsed = meta.tools().parse(c.text());
        message.put("content", parsed.content());
        if (!parsed.calls().isEmpty()) {
          message.put("tool_calls", toolCalls(parsed.calls()));
          called = true;
        }
      }
      array.add(
          new JsonObject()
              .put("index", c.index())
              .put("message", message)
              .put("logprobs", logprobs(c.tokens()))
              .put("finish_reason", finishReason(c.reason(), called)));
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
