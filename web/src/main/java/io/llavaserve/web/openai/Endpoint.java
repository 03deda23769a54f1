package io.llavaserve.web.openai;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.json.JsonObject;
import java.util.Arrays;
import java.util.Optional;

/**
 * An OpenAI generation endpoint: what its body holds (its parser), what its answer looks like (its
 * response format), the prefix of its answer ids, and the name its clients know a field by. Every
 * transport (HTTP and SSE, WebSocket, batch jobs) serves a request through one of these, so the
 * difference between a chat and a text completion lives here and nowhere else.
 */
public enum Endpoint {

  /** {@code POST /v1/chat/completions}: messages through the chat template. */
  CHAT_COMPLETIONS("/v1/chat/completions", "chatcmpl-") {
    @Override
    OpenAiRequest read(RequestParser parser, JsonObject body) {
      return parser.chat(body);
    }

    @Override
    public ResponseFormat format(ResponseFormat.Meta meta, TokenText tokenText) {
      return new ChatFormat(meta, tokenText);
    }

    @Override
    public String param(String field) {
      // The prompt and its images are what the messages make; OpenAI names the messages.
      return field.equals("prompt") || field.equals("images") ? "messages" : field;
    }
  },

  /** {@code POST /v1/completions}: a raw prompt, no template. */
  COMPLETIONS("/v1/completions", "cmpl-") {
    @Override
    OpenAiRequest read(RequestParser parser, JsonObject body) {
      return parser.completion(body);
    }

    @Override
    public ResponseFormat format(ResponseFormat.Meta meta, TokenText tokenText) {
      return new TextFormat(meta, tokenText);
    }

    @Override
    public String param(String field) {
      return field;
    }
  };

  private final String path;
  private final String idPrefix;

  Endpoint(String path, String idPrefix) {
    this.path = path;
    this.idPrefix = idPrefix;
  }

  /** The route, as clients and batch input lines name it. */
  public String path() {
    return path;
  }

  /** The prefix of answer ids: {@code chatcmpl-} or {@code cmpl-}. */
  public String idPrefix() {
    return idPrefix;
  }

  /** The endpoint served at {@code path}. */
  public static Optional<Endpoint> at(String path) {
    return Arrays.stream(values()).filter(e -> e.path.equals(path)).findFirst();
  }

  /**
   * Parses and checks a body of this endpoint; cheap enough for the event loop.
   *
   * @throws ApiError 400 naming the field
   */
  public OpenAiRequest parse(JsonObject body, RequestLimits limits) {
    return read(new RequestParser(limits), body);
  }

  /** The answer objects of one request of this endpoint. */
  public abstract ResponseFormat format(ResponseFormat.Meta meta, TokenText tokenText);

  /** The request field, as this endpoint's clients name it, of an engine field. */
  public abstract String param(String field);

  /**
   * The 400 of a request the engine refused, naming the field as this endpoint's clients know it (a
   * chat prompt too long is a fault of its {@code messages}).
   */
  public ApiError rejection(RequestRejectedException e) {
    String param = param(e.field());
    String message = e.getMessage();
    if (!param.equals(e.field()) && message.startsWith(e.field() + ":")) {
      message = param + message.substring(e.field().length());
    }
    return ApiError.badRequest(param, message);
  }

  abstract OpenAiRequest read(RequestParser parser, JsonObject body);
}
