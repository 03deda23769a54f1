package io.llavaserve.web.cluster;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The messages of a remote request on the event bus, as JSON. Engine to gateway, on the gateway's
 * address: frames, each a token {@code {s, k:"t", c, i, id, x, lp?, top?, p?}}, a choice's end
 * {@code {s, k:"f", c, last, r, u:[prompt, cached, completion], x, e?}} or a failure {@code {s,
 * k:"e", status, body, retry}}; an engine sends the frames it has for one gateway together, {@code
 * {f:[frame, ...]}} (one message per engine step rather than one per token), a frame alone is taken
 * too. Gateway to engine, on the engine's address: {@code start}, {@code credit} and {@code cancel}
 * (see {@link EngineNode}). {@code s} is the stream id the gateway chose.
 */
final class StreamFrames {

  /** The engine's address: starts, credits and cancels. */
  static String engineAddress(String nodeId) {
    return "llava.engine." + nodeId;
  }

  /** The gateway's address: the frames of every stream it runs. */
  static String gatewayAddress(String nodeId) {
    return "llava.gateway." + nodeId;
  }

  /** Where engines publish their load and cache summary. */
  static final String LOADS = "llava.cluster.engines";

  private StreamFrames() {}

  /**
   * @param pieces vocabulary pieces to send along (logprobs: the gateway has no tokenizer); null:
   *     none
   */
  static JsonObject event(String stream, TokenEvent event, IntFunction<String> pieces) {
    JsonObject f = new JsonObject().put("s", stream);
    if (event instanceof TokenEvent.Token t) {
      f.put("k", "t")
          .put("c", t.choice())
          .put("i", t.index())
          .put("id", t.tokenId())
          .put("x", t.text());
      if (!Float.isNaN(t.logprob())) {
        f.put("lp", t.logprob());
      }
      if (!t.topLogprobs().isEmpty()) {
        JsonArray top = new JsonArray();
        t.topLogprobs().forEach(a -> top.add(new JsonArray().add(a.tokenId()).add(a.logprob())));
        f.put("top", top);
      }
      if (pieces != null) {
        JsonObject p =
            new JsonObject().put(Integer.toString(t.tokenId()), pieces.apply(t.tokenId()));
        t.topLogprobs()
            .forEach(a -> p.put(Integer.toString(a.tokenId()), pieces.apply(a.tokenId())));
        f.put("p", p);
      }
    } else if (event instanceof TokenEvent.Finished e) {
      Usage u = e.usage();
      f.put("k", "f")
          .put("c", e.choice())
          .put("last", e.last())
          .put("r", e.reason().name())
          .put(
              "u",
              new JsonArray()
                  .add(u.promptTokens())
                  .add(u.cachedPromptTokens())
                  .add(u.completionTokens()))
          .put("x", e.text())
          .put("e", e.error());
    }
    return f;
  }

  /** Frames for one gateway in one message, in order. */
  static JsonObject batch(JsonArray frames) {
    return new JsonObject().put("f", frames);
  }

  /** The frames a message to a gateway holds, in order: a batch's, or the message itself. */
  static List<JsonObject> frames(JsonObject message) {
    JsonArray f = message.getJsonArray("f");
    if (f == null) {
      return List.of(message);
    }
    List<JsonObject> frames = new ArrayList<>(f.size());
    for (int i = 0; i < f.size(); i++) {
      frames.add(f.getJsonObject(i));
    }
    return frames;
  }

  static JsonObject failure(String stream, ApiError error) {
    return new JsonObject()
        .put("s", stream)
        .put("k", "e")
        .put("status", error.status())
        .put("body", error.toJson())
        .put("retry", error.retryAfterSeconds());
  }

  /** A failure frame (or a refused start's reply) as the error it carries. */
  static ApiError error(JsonObject f) {
    return ApiError.fromJson(
        f.getInteger("status", 500), f.getJsonObject("body"), f.getInteger("retry", 0));
  }

  /** A token or finish frame as its event. */
  static TokenEvent toEvent(JsonObject f) {
    if ("t".equals(f.getString("k"))) {
      Double lp = f.getDouble("lp");
      List<TokenLogprob> top = new ArrayList<>();
      JsonArray a = f.getJsonArray("top");
      if (a != null) {
        for (int i = 0; i < a.size(); i++) {
          JsonArray pair = a.getJsonArray(i);
          top.add(new TokenLogprob(pair.getInteger(0), pair.getFloat(1)));
        }
      }
      return new TokenEvent.Token(
          f.getInteger("c"),
          f.getInteger("i"),
          f.getInteger("id"),
          f.getString("x"),
          lp == null ? Float.NaN : lp.floatValue(),
          top);
    }
    JsonArray u = f.getJsonArray("u");
    return new TokenEvent.Finished(
        f.getInteger("c"),
        f.getBoolean("last"),
        FinishReason.valueOf(f.getString("r")),
        new Usage(u.getInteger(0), u.getInteger(1), u.getInteger(2)),
        f.getString("x"),
        f.getString("e"));
  }
}
