package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** response_format over HTTP: the answers parse and follow the schema, plain and streamed. */
class StructuredOutputsTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  private static final JsonObject SCHEMA =
      new JsonObject(
          """
          {"type":"object","properties":{
             "city":{"type":"string","maxLength":8},
             "population":{"type":"integer"},
             "kind":{"enum":["town","city","village"]},
             "tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":2}},
           "required":["city","population","kind","tags"],"additionalProperties":false}""");

  private static JsonObject chat(boolean stream) {
    return new JsonObject()
        .put("model", TestServer.MODEL_ID)
        .put(
            "messages",
            new JsonArray()
                .add(new JsonObject().put("role", "user").put("content", "Describe a place.")))
        .put("max_tokens", 300)
        .put("temperature", 0)
        .put("stream", stream)
        .put(
            "response_format",
            new JsonObject()
                .put("type", "json_schema")
                .put(
                    "json_schema",
                    new JsonObject()
                        .put("name", "place")
                        .put("strict", true)
                        .put("schema", SCHEMA)));
  }

  private static void assertFollowsTheSchema(String text) {
    JsonObject o = new JsonObject(text);
    assertEquals(Set.of("city", "population", "kind", "tags"), o.fieldNames(), text);
    assertTrue(o.getString("city").codePointCount(0, o.getString("city").length()) <= 8, text);
    assertTrue(o.getValue("population") instanceof Number n && n.doubleValue() % 1 == 0, text);
    assertTrue(Set.of("town", "city", "village").contains(o.getString("kind")), text);
    assertTrue(o.getJsonArray("tags").size() <= 2, text);
  }

  @Test
  void aJsonSchemaAnswerParsesAndFollowsTheSchemaPlainAndStreamed() throws Exception {
    HttpResponse<String> r = server.get().post("/v1/chat/completions", chat(false).encode());
    assertEquals(200, r.statusCode(), r.body());
    JsonObject choice = new JsonObject(r.body()).getJsonArray("choices").getJsonObject(0);
    assertEquals("stop", choice.getString("finish_reason"), r.body());
    String content = choice.getJsonObject("message").getString("content");
    assertFollowsTheSchema(content);

    HttpResponse<String> s = server.get().post("/v1/chat/completions", chat(true).encode());
    assertEquals(200, s.statusCode(), s.body());
    StringBuilder streamed = new StringBuilder();
    String finish = null;
    for (String event : s.body().split("\n\n")) {
      if (!event.startsWith("data: {")) {
        continue;
      }
      JsonArray choices =
          new JsonObject(event.substring("data: ".length())).getJsonArray("choices");
      if (choices.isEmpty()) {
        continue;
      }
      JsonObject c = choices.getJsonObject(0);
      String delta = c.getJsonObject("delta").getString("content");
      if (delta != null) {
        streamed.append(delta);
      }
      if (c.getString("finish_reason") != null) {
        finish = c.getString("finish_reason");
      }
    }
    assertEquals("stop", finish);
    assertEquals(content, streamed.toString(), "greedy: the stream carries the same answer");
  }

  @Test
  void completionsTakeJsonObjectAndMaxTokensCutsWithLength() throws Exception {
    JsonObject body =
        new JsonObject()
            .put("model", TestServer.MODEL_ID)
            .put("prompt", "A JSON object:")
            .put("max_tokens", 3)
            .put("temperature", 0)
            .put("response_format", new JsonObject().put("type", "json_object"));
    HttpResponse<String> r = server.get().post("/v1/completions", body.encode());
    assertEquals(200, r.statusCode(), r.body());
    JsonObject choice = new JsonObject(r.body()).getJsonArray("choices").getJsonObject(0);
    String text = choice.getString("text");
    // Three tokens rarely close an object; either way the text is (the start of) one.
    assertTrue(text.strip().startsWith("{"), text);
    if (choice.getString("finish_reason").equals("stop")) {
      new JsonObject(text); // parses
    } else {
      assertEquals("length", choice.getString("finish_reason"));
    }
  }

  @Test
  void aSchemaWithAnUnsupportedKeywordIsA400NamingIt() throws Exception {
    JsonObject body = chat(false);
    body.getJsonObject("response_format")
        .getJsonObject("json_schema")
        .put("schema", new JsonObject("{\"type\":\"string\",\"pattern\":\"^a+$\"}"));
    HttpResponse<String> r = server.get().post("/v1/chat/completions", body.encode());
    assertEquals(400, r.statusCode(), r.body());
    JsonObject error = new JsonObject(r.body()).getJsonObject("error");
    assertEquals("response_format.json_schema.schema.pattern", error.getString("param"));
  }
}
