package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Tool calls over HTTP, checked as a client sees them: calls against the schemas of {@link
 * ToolCallingTest#TOOLS} (independently of the grammar), and streams reassembled from their deltas
 * as the SDKs do, each delta checked for OpenAI's shape.
 */
final class ToolCallsOverHttp {

  /** OpenAI's call ids. */
  static final String OPENAI_IDS = "call_[A-Za-z0-9]{24}";

  /** Mistral's call ids. */
  static final String MISTRAL_IDS = "[A-Za-z0-9]{9}";

  private ToolCallsOverHttp() {}

  static JsonObject post(TestServer server, JsonObject body) throws Exception {
    HttpResponse<String> r = server.post("/v1/chat/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  static String stream(TestServer server, JsonObject body) throws Exception {
    HttpResponse<String> r =
        server.post("/v1/chat/completions", body.copy().put("stream", true).encode());
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.body().endsWith("data: [DONE]\n\n"), r.body());
    return r.body();
  }

  /** A call naming one of {@code names}, its id of the given shape, its arguments valid. */
  static void assertValidCall(JsonObject call, Set<String> names, String idPattern) {
    assertTrue(call.getString("id").matches(idPattern), call.encode());
    assertEquals("function", call.getString("type"));
    String name = call.getJsonObject("function").getString("name");
    assertTrue(names.contains(name), call.encode());
    JsonObject args = new JsonObject(call.getJsonObject("function").getString("arguments"));
    if (name.equals("get_weather")) {
      assertEquals(Set.of("city", "unit"), args.fieldNames(), args.encode());
      String city = args.getString("city");
      assertTrue(city.codePointCount(0, city.length()) <= 8, args.encode());
      assertTrue(Set.of("c", "f").contains(args.getString("unit")), args.encode());
    } else {
      assertTrue(Set.of("tz", "days").containsAll(args.fieldNames()), args.encode());
      assertTrue(Set.of("utc", "cet").contains(args.getString("tz")), args.encode());
      JsonArray days = args.getJsonArray("days", new JsonArray());
      assertTrue(days.size() <= 2, args.encode());
      days.forEach(d -> assertTrue(d instanceof Number n && n.doubleValue() % 1 == 0));
    }
  }

  /**
   * The tool calls of a stream, reassembled from their deltas: a call's first delta carries its
   * index, an id of the given shape, type function, its name and arguments "", the next ones only
   * the index and pieces of the arguments. {@code finish[0]} gets the finish reason, {@code
   * content} the content deltas joined.
   */
  static JsonArray reassemble(
      String sse, String idPattern, String[] finish, StringBuilder content) {
    List<JsonObject> calls = new ArrayList<>();
    for (String event : sse.split("\n\n")) {
      if (!event.startsWith("data: {")) {
        continue;
      }
      JsonArray choices =
          new JsonObject(event.substring("data: ".length())).getJsonArray("choices");
      if (choices == null || choices.isEmpty()) {
        continue;
      }
      JsonObject c = choices.getJsonObject(0);
      if (c.getString("finish_reason") != null) {
        finish[0] = c.getString("finish_reason");
      }
      JsonObject delta = c.getJsonObject("delta");
      if (delta.getString("content") != null) {
        content.append(delta.getString("content"));
      }
      JsonArray deltas = delta.getJsonArray("tool_calls");
      if (deltas == null) {
        continue;
      }
      for (int i = 0; i < deltas.size(); i++) {
        JsonObject d = deltas.getJsonObject(i);
        int index = d.getInteger("index");
        if (index == calls.size()) {
          assertTrue(d.getString("id").matches(idPattern), d.encode());
          assertEquals("function", d.getString("type"), d.encode());
          assertNotNull(d.getJsonObject("function").getString("name"), d.encode());
          assertEquals("", d.getJsonObject("function").getString("arguments"), d.encode());
          calls.add(d.copy());
        } else {
          assertEquals(Set.of("index", "function"), d.fieldNames(), d.encode());
          assertEquals(Set.of("arguments"), d.getJsonObject("function").fieldNames(), d.encode());
          JsonObject f = calls.get(index).getJsonObject("function");
          f.put(
              "arguments",
              f.getString("arguments") + d.getJsonObject("function").getString("arguments"));
        }
      }
    }
    JsonArray out = new JsonArray();
    calls.forEach(c -> out.add(c.copy().put("index", null)));
    return out;
  }

  static JsonArray withoutIds(JsonArray calls) {
    JsonArray out = new JsonArray();
    for (int i = 0; i < calls.size(); i++) {
      JsonObject c = calls.getJsonObject(i);
      out.add(
          new JsonObject()
              .put("type", c.getString("type"))
              .put("function", c.getJsonObject("function")));
    }
    return out;
  }

  /**
   * Whether {@code prompt} holds {@code fragment}, whitespace aside: decoding the prompt's ids puts
   * SentencePiece's spaces after special tokens that the rendered text did not have (the exact
   * rendering is checked against Jinja2 in the engine's ToolTemplatesTest).
   */
  static boolean holds(String prompt, String fragment) {
    return prompt.replaceAll("\\s", "").contains(fragment.replaceAll("\\s", ""));
  }

  /** The prompt a chat body renders to, as {@code /tokenize} and {@code /detokenize} give it. */
  static String prompt(TestServer server, JsonObject chat) throws Exception {
    HttpResponse<String> t = server.post("/tokenize", chat.encode());
    assertEquals(200, t.statusCode(), t.body());
    JsonArray tokens = new JsonObject(t.body()).getJsonArray("tokens");
    HttpResponse<String> d =
        server.post("/detokenize", new JsonObject().put("tokens", tokens).encode());
    assertEquals(200, d.statusCode(), d.body());
    return new JsonObject(d.body()).getString("prompt");
  }
}
