package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Each bad request gets its status and an OpenAI error naming the field; the server lives on. */
class BadRequestsTest {

  @RegisterExtension static final SharedServer server = new SharedServer();

  static JsonObject good() {
    return ChatCompletionsTest.chat("hello", 2);
  }

  static JsonObject with(UnaryOperator<JsonObject> change) {
    return change.apply(good());
  }

  static JsonObject content(Object content) {
    return good()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)));
  }

  static JsonObject image(String url) {
    return content(
        new JsonArray()
            .add(new JsonObject().put("type", "text").put("text", "what?"))
            .add(
                new JsonObject()
                    .put("type", "image_url")
                    .put("image_url", new JsonObject().put("url", url))));
  }

  /** A PNG whose header claims 100000 x 100000 pixels: refused before any decoding. */
  static String hugePng() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
    ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
    DataOutputStream h = new DataOutputStream(ihdr);
    h.writeBytes("IHDR");
    h.writeInt(100_000);
    h.writeInt(100_000);
    h.write(new byte[] {8, 2, 0, 0, 0});
    out.writeInt(13);
    out.write(ihdr.toByteArray());
    CRC32 crc = new CRC32();
    crc.update(ihdr.toByteArray());
    out.writeInt((int) crc.getValue());
    return "data:image/png;base64," + Base64.getEncoder().encodeToString(bytes.toByteArray());
  }

  static Arguments bad(
      String name,
      String method,
      String path,
      String body,
      int status,
      String param,
      String fragment) {
    return Arguments.of(name, method, path, body, status, param, fragment);
  }

  static Arguments chat(String name, JsonObject body, int status, String param, String fragment) {
    return bad(name, "POST", "/v1/chat/completions", body.encode(), status, param, fragment);
  }

  static Stream<Arguments> cases() throws Exception {
    String png = TestServer.pngDataUri(8, 8);
    JsonArray threeImages = new JsonArray();
    for (int i = 0; i < 3; i++) {
      threeImages.add(
          new JsonObject()
              .put("type", "image_url")
              .put("image_url", new JsonObject().put("url", png)));
    }
    JsonArray seventeen = new JsonArray();
    for (int i = 0; i < 17; i++) {
      seventeen.add("s" + i);
    }
    List<Arguments> c = new ArrayList<>();
    c.add(
        bad(
            "bad JSON",
            "POST",
            "/v1/chat/completions",
            "{\"messages\": [",
            400,
            null,
            "not valid JSON"));
    c.add(bad("empty body", "POST", "/v1/chat/completions", "", 400, null, "empty"));
    c.add(bad("body is an array", "POST", "/v1/chat/completions", "[]", 400, null, "JSON object"));
    c.add(
        chat(
            "missing messages",
            new JsonObject().put("max_tokens", 2),
            400,
            "messages",
            "required"));
    c.add(
        chat(
            "empty messages",
            with(b -> b.put("messages", new JsonArray())),
            400,
            "messages",
            "at least one"));
    c.add(
        chat(
            "messages not an array",
            with(b -> b.put("messages", "hi")),
            400,
            "messages",
            "an array"));
    c.add(
        chat(
            "message not an object",
            with(b -> b.put("messages", new JsonArray().add(1))),
            400,
            "messages[0]",
            "an object"));
    c.add(
        chat(
            "wrong role",
            with(
                b ->
                    b.put(
                        "messages",
                        new JsonArray()
                            .add(new JsonObject().put("role", "robot").put("content", "x")))),
            400,
            "messages[0].role",
            "robot"));
    c.add(
        chat(
            "missing role",
            with(b -> b.put("messages", new JsonArray().add(new JsonObject().put("content", "x")))),
            400,
            "messages[0].role",
            "required"));
    c.add(
        chat(
            "content of wrong type", content(5), 400, "messages[0].content", "string or an array"));
    c.add(
        chat(
            "missing content",
            with(b -> b.put("messages", new JsonArray().add(new JsonObject().put("role", "user")))),
            400,
            "messages[0].content",
            "required"));
    c.add(
        chat(
            "unknown part type",
            content(new JsonArray().add(new JsonObject().put("type", "audio"))),
            400,
            "messages[0].content[0].type",
            "audio"));
    c.add(
        chat(
            "text part without text",
            content(new JsonArray().add(new JsonObject().put("type", "text"))),
            400,
            "messages[0].content[0].text",
            "required"));
    c.add(
        chat(
            "image_url without url",
            content(
                new JsonArray()
                    .add(
                        new JsonObject()
                            .put("type", "image_url")
                            .put("image_url", new JsonObject()))),
            400,
            "messages[0].content[0].image_url",
            "url"));
    c.add(
        chat(
            "data URI not of an image",
            image("data:text/plain;base64,aGk="),
            400,
            "messages[0].content[1].image_url",
            "data:image"));
    c.add(
        chat(
            "data URI not base64",
            image("data:image/png;base64,@@@!"),
            400,
            "messages[0].content[1].image_url",
            "base64"));
    c.add(
        chat(
            "not an image",
            image("data:image/png;base64,aGVsbG8gd29ybGQ="),
            400,
            "messages[0].content[1].image_url",
            "image_url"));
    c.add(
        chat(
            "image too many pixels",
            image(hugePng()),
            413,
            "messages[0].content[1].image_url",
            "pixels"));
    c.add(
        chat(
            "http URL with fetching off",
            image("http://example.com/cat.png"),
            400,
            "image_url",
            "media.fetch-enabled=false"));
    c.add(
        chat(
            "ftp URL",
            image("ftp://example.com/cat.png"),
            400,
            "messages[0].content[1].image_url",
            "http(s)"));
    c.add(
        chat(
            "image in an assistant message",
            with(
                b ->
                    b.put(
                        "messages",
                        new JsonArray()
                            .add(
                                new JsonObject()
                                    .put("role", "assistant")
                                    .put("content", threeImages.copy())))),
            400,
            "messages[0].content",
            "only user"));
    c.add(chat("too many images", content(threeImages), 400, "messages", "max-images-per-request"));
    c.add(
        chat("temperature 5", with(b -> b.put("temperature", 5)), 400, "temperature", "[0, 2.0]"));
    c.add(
        chat(
            "temperature a string",
            with(b -> b.put("temperature", "hot")),
            400,
            "temperature",
            "a number"));
    c.add(chat("top_p 0", with(b -> b.put("top_p", 0)), 400, "top_p", "(0, 1]"));
    c.add(chat("top_k -5", with(b -> b.put("top_k", -5)), 400, "top_k", "-1"));
    c.add(chat("min_p 2", with(b -> b.put("min_p", 2)), 400, "min_p", "[0, 1]"));
    c.add(
        chat(
            "presence_penalty 3",
            with(b -> b.put("presence_penalty", 3)),
            400,
            "presence_penalty",
            "[-2, 2]"));
    c.add(
        chat(
            "repetition_penalty 0",
            with(b -> b.put("repetition_penalty", 0)),
            400,
            "repetition_penalty",
            "> 0"));
    c.add(chat("seed a string", with(b -> b.put("seed", "x")), 400, "seed", "an integer"));
    c.add(chat("n 0", with(b -> b.put("n", 0)), 400, "n", "must be in [1, 16]"));
    c.add(chat("n 17", with(b -> b.put("n", 17)), 400, "n", "limits.max-n"));
    c.add(chat("max_tokens 0", with(b -> b.put("max_tokens", 0)), 400, "max_tokens", ">= 1"));
    c.add(
        chat(
            "max_tokens over the limit",
            with(b -> b.put("max_tokens", 100_000)),
            400,
            "max_tokens",
            "limits.max-tokens"));
    c.add(
        chat(
            "max_tokens not an integer",
            with(b -> b.put("max_tokens", 1.5)),
            400,
            "max_tokens",
            "an integer"));
    c.add(
        chat(
            "max_completion_tokens 0",
            with(b -> b.remove("max_tokens") == null ? b : b.put("max_completion_tokens", 0)),
            400,
            "max_completion_tokens",
            ">= 1"));
    c.add(
        chat("stop list too long", with(b -> b.put("stop", seventeen)), 400, "stop", "at most 16"));
    c.add(
        chat(
            "stop of wrong type",
            with(b -> b.put("stop", new JsonArray().add(1))),
            400,
            "stop",
            "strings"));
    c.add(chat("empty stop string", with(b -> b.put("stop", "")), 400, "stop", "non-empty"));
    c.add(
        chat(
            "top_logprobs without logprobs",
            with(b -> b.put("top_logprobs", 2)),
            400,
            "top_logprobs",
            "logprobs: true"));
    c.add(
        chat(
            "top_logprobs 30",
            with(b -> b.put("logprobs", true).put("top_logprobs", 30)),
            400,
            "top_logprobs",
            "[0, 20]"));
    c.add(
        chat(
            "stream not a boolean",
            with(b -> b.put("stream", "yes")),
            400,
            "stream",
            "true or false"));
    c.add(chat("unknown model", with(b -> b.put("model", "gpt-4o")), 404, "model", "gpt-4o"));
    c.add(
        bad(
            "completions without prompt",
            "POST",
            "/v1/completions",
            "{\"max_tokens\":2}",
            400,
            "prompt",
            "required"));
    c.add(
        bad(
            "completions logprobs 50",
            "POST",
            "/v1/completions",
            "{\"prompt\":\"a\",\"logprobs\":50}",
            400,
            "logprobs",
            "[0, 20]"));
    // Refused by the engine's admission check, typed: the field becomes the param, named as the
    // endpoint names it (a chat prompt is made of its messages).
    c.add(
        bad(
            "completions image placeholder without an image",
            "POST",
            "/v1/completions",
            "{\"prompt\":\"<image> what is this?\",\"max_tokens\":2}",
            400,
            "images",
            "image placeholders"));
    c.add(
        chat(
            "prompt over limits.max-prompt-tokens",
            with(
                b ->
                    b.put(
                        "messages",
                        new JsonArray()
                            .add(
                                new JsonObject()
                                    .put("role", "user")
                                    .put("content", "hello ".repeat(2100))))),
            400,
            "messages",
            "limits.max-prompt-tokens"));
    c.add(
        bad(
            "oversized body",
            "POST",
            "/v1/chat/completions",
            "{\"messages\":\"" + "x".repeat(1_100_000) + "\"}",
            413,
            null,
            "server.max-body-bytes"));
    // Fields that would change the output and are not implemented: refused, never ignored.
    c.add(
        chat(
            "unknown response format",
            with(b -> b.put("response_format", new JsonObject().put("type", "xml"))),
            400,
            "response_format.type",
            "json_schema"));
    c.add(
        chat(
            "json schema without its schema",
            with(
                b ->
                    b.put(
                        "response_format",
                        new JsonObject()
                            .put("type", "json_schema")
                            .put("json_schema", new JsonObject().put("name", "answer")))),
            400,
            "response_format.json_schema.schema",
            "is required"));
    c.add(
        chat(
            "json schema with an unsupported keyword",
            with(
                b ->
                    b.put(
                        "response_format",
                        new JsonObject()
                            .put("type", "json_schema")
                            .put(
                                "json_schema",
                                new JsonObject()
                                    .put("name", "answer")
                                    .put(
                                        "schema",
                                        new JsonObject(
                                            "{\"type\":\"object\",\"properties\":{\"age\":"
                                                + "{\"type\":\"integer\",\"minimum\":0}}}"))))),
            400,
            "response_format.json_schema.schema.properties.age.minimum",
            "minimum is not supported"));
    JsonArray tools =
        new JsonArray()
            .add(
                new JsonObject()
                    .put("type", "function")
                    .put("function", new JsonObject().put("name", "f g")));
    c.add(
        chat(
            "tool name",
            with(b -> b.put("tools", tools)),
            400,
            "tools[0].function.name",
            "letters, digits"));
    c.add(
        chat(
            "required tool choice without tools",
            with(b -> b.put("tool_choice", "required")),
            400,
            "tool_choice",
            "no tools"));
    String text = new JsonObject().put("prompt", "hi").put("max_tokens", 2).encode();
    c.add(
        bad(
            "best_of",
            "POST",
            "/v1/completions",
            new JsonObject(text).put("best_of", 2).encode(),
            400,
            "best_of",
            "must be 1"));
    c.add(
        bad(
            "echo",
            "POST",
            "/v1/completions",
            new JsonObject(text).put("echo", true).encode(),
            400,
            "echo",
            "not supported"));
    c.add(
        bad(
            "suffix",
            "POST",
            "/v1/completions",
            new JsonObject(text).put("suffix", "end").encode(),
            400,
            "suffix",
            "not supported"));
    c.add(
        chat(
            "logit_bias not an object",
            with(b -> b.put("logit_bias", new JsonArray().add(1))),
            400,
            "logit_bias",
            "object"));
    c.add(
        chat(
            "logit_bias key not a token id",
            with(b -> b.put("logit_bias", new JsonObject().put("abc", 1))),
            400,
            "logit_bias",
            "'abc'"));
    c.add(
        chat(
            "logit_bias beyond 100",
            with(b -> b.put("logit_bias", new JsonObject().put("5", 101))),
            400,
            "logit_bias",
            "[-100, 100]"));
    c.add(
        chat(
            "logit_bias outside the vocabulary",
            with(b -> b.put("logit_bias", new JsonObject().put("40000", 5))),
            400,
            "logit_bias",
            "outside the vocabulary"));
    c.add(
        chat(
            "stop_token_ids not a list",
            with(b -> b.put("stop_token_ids", 5)),
            400,
            "stop_token_ids",
            "array"));
    c.add(
        chat(
            "stop_token_ids negative",
            with(b -> b.put("stop_token_ids", new JsonArray().add(-1))),
            400,
            "stop_token_ids",
            ">= 0"));
    c.add(
        chat(
            "stop_token_ids outside the vocabulary",
            with(b -> b.put("stop_token_ids", new JsonArray().add(40000))),
            400,
            "stop_token_ids",
            "outside the vocabulary"));
    c.add(
        chat("min_tokens", with(b -> b.put("min_tokens", 3)), 400, "min_tokens", "not supported"));
    c.add(
        chat(
            "guided_json",
            with(b -> b.put("guided_json", new JsonObject())),
            400,
            "guided_json",
            "response_format"));
    c.add(
        chat(
            "include_stop_str_in_output",
            with(b -> b.put("include_stop_str_in_output", true)),
            400,
            "include_stop_str_in_output",
            "not supported"));
    c.add(
        chat(
            "allowed_token_ids",
            with(b -> b.put("allowed_token_ids", new JsonArray().add(1))),
            400,
            "allowed_token_ids",
            "not supported"));
    c.add(bad("wrong method", "GET", "/v1/chat/completions", null, 405, null, "GET"));
    c.add(bad("unknown route", "POST", "/v1/nope", "{}", 404, null, "/v1/nope"));
    return c.stream();
  }

  static Stream<Arguments> badImages() throws Exception {
    return Stream.of(
        Arguments.of("data URI not of an image", "data:text/plain;base64,aGk="),
        Arguments.of("data URI not base64", "data:image/png;base64,@@@!"),
        Arguments.of("not an image", "data:image/png;base64,aGVsbG8gd29ybGQ="),
        Arguments.of("image too many pixels", hugePng()),
        Arguments.of("http URL with fetching off", "http://example.com/cat.png"),
        Arguments.of("ftp URL", "ftp://example.com/cat.png"));
  }

  /** vLLM's /tokenize prepares a chat's images as its chat endpoint does, refusals included. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("badImages")
  void tokenizeRefusesABadImageAsTheChatEndpointDoes(String name, String url) throws Exception {
    JsonObject chat = image(url);
    JsonObject tokenize = new JsonObject().put("messages", chat.getJsonArray("messages"));

    HttpResponse<String> c = server.get().post("/v1/chat/completions", chat.encode());
    HttpResponse<String> t = server.get().post("/tokenize", tokenize.encode());

    assertTrue(c.statusCode() >= 400 && c.statusCode() < 500, c.body());
    assertEquals(c.statusCode(), t.statusCode(), t.body());
    assertEquals(new JsonObject(c.body()), new JsonObject(t.body()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void answersWithStatusAndErrorBody(
      String name,
      String method,
      String path,
      String body,
      int status,
      String param,
      String fragment)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(server.get().url(path)))
            .timeout(Duration.ofSeconds(20))
            .header("Content-Type", "application/json");
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    HttpResponse<String> r =
        server.get().http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(status, r.statusCode(), r.body());
    JsonObject error = new JsonObject(r.body()).getJsonObject("error");
    assertEquals(param, error.getString("param"), r.body());
    assertTrue(error.getString("message").contains(fragment), r.body());
    assertTrue(error.containsKey("type") && error.containsKey("code"), r.body());

    HttpResponse<String> ok = server.get().post("/v1/chat/completions", good().encode());
    assertEquals(200, ok.statusCode(), ok.body());
  }
}
