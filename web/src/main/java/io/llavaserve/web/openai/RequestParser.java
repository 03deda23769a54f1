package io.llavaserve.web.openai;

import io.llavaserve.engine.prompt.ToolCall;
import io.llavaserve.engine.sampling.constraint.Grammar;
import io.llavaserve.web.errors.ApiError;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads request bodies into {@link OpenAiRequest}s, each violation a 400 naming the field; cheap
 * enough for the event loop. Which of its readers a body goes to is its {@link Endpoint}'s choice.
 */
public final class RequestParser {

  private static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");
  private static final Pattern DATA_URI = Pattern.compile("^data:image/[A-Za-z0-9.+-]+;base64,");

  private final RequestLimits limits;

  RequestParser(RequestLimits limits) {
    this.limits = limits;
  }

  /**
   * Decodes a body into a JSON object.
   *
   * @throws ApiError 400 when it is empty, not JSON or not an object
   */
  public static JsonObject body(Buffer body) {
    if (body == null || body.length() == 0) {
      throw ApiError.badRequest(null, "the request body is empty; expected a JSON object");
    }
    Object v;
    try {
      v = io.vertx.core.json.Json.decodeValue(body);
    } catch (DecodeException e) {
      throw ApiError.badRequest(null, "the request body is not valid JSON: " + e.getMessage());
    }
    if (!(v instanceof JsonObject o)) {
      throw ApiError.badRequest(null, "the request body must be a JSON object");
    }
    return o;
  }

  OpenAiRequest chat(JsonObject body) {
    Object raw = body.getValue("messages");
    if (raw == null) {
      throw ApiError.badRequest("messages", "messages is required");
    }
    if (!(raw instanceof JsonArray array)) {
      throw JsonFields.wrongType("messages", "an array", raw);
    }
    if (array.isEmpty()) {
      throw ApiError.badRequest("messages", "messages must hold at least one message");
    }
    List<OpenAiRequest.Message> messages = new ArrayList<>();
    Set<String> callIds = new HashSet<>();
    int images = 0;
    for (int i = 0; i < array.size(); i++) {
      String param = "messages[" + i + "]";
      OpenAiRequest.Message m = message(array.getValue(i), param);
      images += (int) m.parts().stream().filter(p -> p instanceof OpenAiRequest.Image).count();
      m.toolCalls().forEach(c -> callIds.add(c.id()));
      if (m.toolCallId() != null && !callIds.contains(m.toolCallId())) {
        throw ApiError.badRequest(
            param + ".tool_call_id",
            param
                + ".tool_call_id '"
                + m.toolCallId()
                + "' answers no call of an earlier assistant message");
      }
      messages.add(m);
    }
    if (images > limits.maxImagesPerRequest()) {
      throw ApiError.badRequest(
          "messages",
          "messages hold "
              + images
              + " images; at most "
              + limits.maxImagesPerRequest()
              + " are allowed per request (limits.max-images-per-request)");
    }
    return common(Endpoint.CHAT_COMPLETIONS, body, messages, null);
  }

  OpenAiRequest completion(JsonObject body) {
    Object raw = body.getValue("prompt");
    if (raw == null) {
      throw ApiError.badRequest("prompt", "prompt is required");
    }
    if (raw instanceof JsonArray a && a.size() == 1 && a.getValue(0) instanceof String s) {
      raw = s; // the SDKs may send a one-element list
    }
    if (!(raw instanceof String prompt)) {
      throw JsonFields.wrongType("prompt", "a string", raw);
    }
    if (prompt.isEmpty()) {
      throw ApiError.badRequest("prompt", "prompt must not be empty");
    }
    return common(Endpoint.COMPLETIONS, body, null, prompt);
  }

  private OpenAiRequest common(
      Endpoint endpoint, JsonObject body, List<OpenAiRequest.Message> messages, String prompt) {
    refuseUnsupported(body, endpoint);
    String model = JsonFields.string(body, "model", "model");
    JsonFields.string(body, "user", "user");
    SamplingParser.Parsed parsed = SamplingParser.parse(body, limits, endpoint);
    ToolUse tools = endpoint == Endpoint.CHAT_COMPLETIONS ? ToolsParser.parse(body) : ToolUse.NONE;
    Optional<Grammar> format = ResponseFormatParser.parse(body);
    if (tools.forced() && format.isPresent()) {
      throw ApiError.badRequest(
          "response_format",
          "response_format cannot constrain an answer that tool_choice already forces to be a"
              + " tool call");
    }
    SamplingParser.Parsed sampling =
        new SamplingParser.Parsed(
            parsed.params().toBuilder().grammar(format.orElse(null)).build(),
            parsed.maxTokensGiven(),
            parsed.n());
    Boolean stream = JsonFields.bool(body, "stream");
    JsonObject options = JsonFields.object(body, "stream_options", "stream_options");
    boolean includeUsage = false;
    if (options != null) {
      Boolean u = JsonFields.bool(options, "include_usage");
      includeUsage = Boolean.TRUE.equals(u);
    }
    return new OpenAiRequest(
        endpoint,
        model,
        messages,
        prompt,
        sampling.params(),
        sampling.maxTokensGiven(),
        Boolean.TRUE.equals(stream),
        includeUsage,
        tools,
        sampling.n());
  }

  /**
   * Fields that would change the output but are not implemented get a 400 naming them, rather than
   * being ignored ({@code response_format} is read by {@link ResponseFormatParser}, the tool fields
   * of a chat request by {@link ToolsParser}); harmless fields (user, metadata, store,
   * service_tier) and unknown ones are ignored.
   */
  private static void refuseUnsupported(JsonObject body, Endpoint endpoint) {
    if (endpoint == Endpoint.COMPLETIONS) {
      for (String field : List.of("tools", "functions")) {
        if (body.getValue(field) instanceof JsonArray a && !a.isEmpty()) {
          throw ApiError.badRequest(
              field, field + ": tool calling needs chat messages; use /v1/chat/completions");
        }
      }
      for (String field : List.of("tool_choice", "function_call")) {
        Object v = body.getValue(field);
        if (v != null && !"none".equals(v) && !"auto".equals(v)) {
          throw ApiError.badRequest(
              field, field + ": tool calling needs chat messages; use /v1/chat/completions");
        }
      }
    }
    Integer bestOf = JsonFields.int32(body, "best_of");
    if (bestOf != null && bestOf != 1) {
      throw ApiError.badRequest(
          "best_of",
          "best_of must be 1: sampling more candidates than n and returning the best is not"
              + " supported (vLLM dropped it too); use n, got "
              + bestOf);
    }
    if (Boolean.TRUE.equals(JsonFields.bool(body, "echo"))) {
      throw ApiError.badRequest(
          "echo", "echo: returning the prompt with the completion is not supported");
    }
    String suffix = JsonFields.string(body, "suffix", "suffix");
    if (suffix != null && !suffix.isEmpty()) {
      throw ApiError.badRequest(
          "suffix", "suffix: insertion (text after the completion) is not supported");
    }
    for (String field : List.of("prediction", "audio")) {
      if (body.getValue(field) != null) {
        throw ApiError.badRequest(field, field + " is not supported");
      }
    }
    Integer minTokens = JsonFields.int32(body, "min_tokens");
    if (minTokens != null && minTokens != 0) {
      throw ApiError.badRequest(
          "min_tokens", "min_tokens: holding back EOS and stop tokens is not supported");
    }
    for (String flag : List.of("include_stop_str_in_output", "use_beam_search")) {
      if (Boolean.TRUE.equals(JsonFields.bool(body, flag))) {
        throw ApiError.badRequest(flag, flag + " is not supported");
      }
    }
    for (String field : List.of("guided_json", "guided_regex", "guided_choice", "guided_grammar")) {
      if (body.getValue(field) != null) {
        throw ApiError.badRequest(
            field, field + " is not supported; constrain the output with response_format");
      }
    }
    for (String field :
        List.of("allowed_token_ids", "bad_words", "prompt_logprobs", "truncate_prompt_tokens")) {
      if (body.getValue(field) != null) {
        throw ApiError.badRequest(field, field + " is not supported");
      }
    }
    Object modalities = body.getValue("modalities");
    if (modalities != null
        && !(modalities instanceof JsonArray a && a.stream().allMatch("text"::equals))) {
      throw ApiError.badRequest("modalities", "modalities: only [\"text\"] output is supported");
    }
  }

  private OpenAiRequest.Message message(Object raw, String param) {
    if (!(raw instanceof JsonObject m)) {
      throw JsonFields.wrongType(param, "an object", raw);
    }
    String role = JsonFields.string(m, "role", param + ".role");
    if (role == null) {
      throw ApiError.badRequest(param + ".role", param + ".role is required");
    }
    if (!ROLES.contains(role)) {
      throw ApiError.badRequest(
          param + ".role",
          param + ".role must be one of system, user, assistant, tool; got '" + role + "'");
    }
    List<ToolCall> toolCalls =
        role.equals("assistant") ? toolCalls(m, param + ".tool_calls") : List.of();
    if (!role.equals("assistant") && m.getValue("tool_calls") != null) {
      throw ApiError.badRequest(
          param + ".tool_calls",
          "only assistant messages carry tool_calls; " + param + " is a " + role + " message");
    }
    String toolCallId = JsonFields.string(m, "tool_call_id", param + ".tool_call_id");
    if (role.equals("tool") && toolCallId == null) {
      throw ApiError.badRequest(
          param + ".tool_call_id", param + ".tool_call_id is required in a tool message");
    }
    if (!role.equals("tool")) {
      toolCallId = null;
    }
    Object content = m.getValue("content");
    List<OpenAiRequest.Part> parts = new ArrayList<>();
    if (content instanceof String s) {
      parts.add(new OpenAiRequest.Text(s));
    } else if (content instanceof JsonArray a) {
      for (int j = 0; j < a.size(); j++) {
        parts.add(part(a.getValue(j), param + ".content[" + j + "]"));
      }
    } else if (content == null && !toolCalls.isEmpty()) {
      // an assistant message that only calls tools
    } else if (content == null) {
      throw ApiError.badRequest(param + ".content", param + ".content is required");
    } else {
      throw JsonFields.wrongType(
          param + ".content", "a string or an array of content parts", content);
    }
    if (!role.equals("user") && parts.stream().anyMatch(p -> p instanceof OpenAiRequest.Image)) {
      throw ApiError.badRequest(
          param + ".content",
          "only user messages may contain images; " + param + " is a " + role + " message");
    }
    return new OpenAiRequest.Message(role, parts, toolCalls, toolCallId);
  }

  /** An assistant message's {@code tool_calls}: {id, type function, function {name, arguments}}. */
  private static List<ToolCall> toolCalls(JsonObject m, String param) {
    Object raw = m.getValue("tool_calls");
    if (raw == null) {
      return List.of();
    }
    if (!(raw instanceof JsonArray array)) {
      throw JsonFields.wrongType(param, "an array", raw);
    }
    List<ToolCall> calls = new ArrayList<>();
    for (int i = 0; i < array.size(); i++) {
      String at = param + "[" + i + "]";
      if (!(array.getValue(i) instanceof JsonObject call)) {
        throw JsonFields.wrongType(at, "an object", array.getValue(i));
      }
      String id = JsonFields.string(call, "id", at + ".id");
      if (id == null || id.isEmpty()) {
        throw ApiError.badRequest(at + ".id", at + ".id is required");
      }
      String type = JsonFields.string(call, "type", at + ".type");
      if (type != null && !type.equals("function")) {
        throw ApiError.badRequest(at + ".type", at + ".type must be function, got " + type);
      }
      JsonObject function = JsonFields.object(call, "function", at + ".function");
      if (function == null) {
        throw ApiError.badRequest(at + ".function", at + ".function is required");
      }
      String name = JsonFields.string(function, "name", at + ".function.name");
      if (name == null || name.isEmpty()) {
        throw ApiError.badRequest(at + ".function.name", at + ".function.name is required");
      }
      Object arguments = function.getValue("arguments");
      String text;
      if (arguments instanceof String s) {
        text = s;
      } else if (arguments instanceof JsonObject o) {
        text = o.encode(); // lenient: the object itself rather than its JSON text
      } else if (arguments == null) {
        throw ApiError.badRequest(
            at + ".function.arguments", at + ".function.arguments is required (a JSON string)");
      } else {
        throw JsonFields.wrongType(at + ".function.arguments", "a JSON string", arguments);
      }
      calls.add(new ToolCall(id, name, text));
    }
    return calls;
  }

  private OpenAiRequest.Part part(Object raw, String param) {
    if (!(raw instanceof JsonObject p)) {
      throw JsonFields.wrongType(param, "an object", raw);
    }
    String type = JsonFields.string(p, "type", param + ".type");
    if (type == null) {
      throw ApiError.badRequest(param + ".type", param + ".type is required");
    }
    switch (type) {
      case "text" -> {
        String text = JsonFields.string(p, "text", param + ".text");
        if (text == null) {
          throw ApiError.badRequest(param + ".text", param + ".text is required");
        }
        return new OpenAiRequest.Text(text);
      }
      case "image_url" -> {
        String field = param + ".image_url";
        Object v = p.getValue("image_url");
        String url =
            v instanceof JsonObject o
                ? JsonFields.string(o, "url", field + ".url")
                : v instanceof String s ? s : null;
        if (url == null) {
          throw ApiError.badRequest(field, field + " must be an object with a url");
        }
        if (url.startsWith("data:")) {
          if (!DATA_URI.matcher(url).find()) {
            throw ApiError.badRequest(
                field, field + ": a data URI must look like data:image/<format>;base64,<data>");
          }
        } else if (!url.startsWith("http://") && !url.startsWith("https://")) {
          throw ApiError.badRequest(
              field, field + ": expected a data:image/...;base64, URI or an http(s) URL");
        }
        return new OpenAiRequest.Image(url, field);
      }
      default ->
          throw ApiError.badRequest(
              param + ".type", param + ".type must be text or image_url, got '" + type + "'");
    }
  }
}
