package io.llavaserve.web.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.web.errors.ApiError;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Bodies of both endpoints read into requests; each refusal a 400 naming the field to fix. */
class RequestParserTest {

  static final RequestLimits LIMITS = new RequestLimits(2, 100, 2048);
  static final String PNG = "data:image/png;base64,iVBORw0KGgo=";

  static JsonObject user(Object content) {
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)));
  }

  static JsonArray imageAndText(String url) {
    return new JsonArray()
        .add(
            new JsonObject()
                .put("type", "image_url")
                .put("image_url", new JsonObject().put("url", url)))
        .add(new JsonObject().put("type", "text").put("text", "what is this?"));
  }

  static ApiError refused(Endpoint endpoint, JsonObject body) {
    return assertThrows(ApiError.class, () -> endpoint.parse(body, LIMITS));
  }

  @Test
  void aBodyMustBeANonEmptyJsonObject() {
    assertTrue(
        assertThrows(ApiError.class, () -> RequestParser.body(Buffer.buffer()))
            .getMessage()
            .contains("empty"));
    assertTrue(
        assertThrows(ApiError.class, () -> RequestParser.body(Buffer.buffer("{nope")))
            .getMessage()
            .contains("not valid JSON"));
    assertTrue(
        assertThrows(ApiError.class, () -> RequestParser.body(Buffer.buffer("[1]")))
            .getMessage()
            .contains("JSON object"));
    assertEquals(1, RequestParser.body(Buffer.buffer("{\"a\":1}")).getInteger("a"));
  }

  @Test
  void aChatBodyKeepsItsMessagesPartsAndOptions() {
    JsonObject body =
        user(imageAndText(PNG))
            .put("model", "m")
            .put("stream", true)
            .put("stream_options", new JsonObject().put("include_usage", true));
    OpenAiRequest r = Endpoint.CHAT_COMPLETIONS.parse(body, LIMITS);
    assertEquals(Endpoint.CHAT_COMPLETIONS, r.endpoint());
    assertEquals("m", r.model());
    assertTrue(r.stream());
    assertTrue(r.includeUsage());
    assertNull(r.prompt());
    assertEquals(1, r.messages().size());
    assertEquals("user", r.messages().get(0).role());
    assertEquals(
        List.of(
            new OpenAiRequest.Image(PNG, "messages[0].content[0].image_url"),
            new OpenAiRequest.Text("what is this?")),
        r.messages().get(0).parts());
    assertEquals(1, r.images().size());
    assertTrue(r.images().get(0).isDataUri());
  }

  @Test
  void aStringContentIsOneTextPart() {
    OpenAiRequest r = Endpoint.CHAT_COMPLETIONS.parse(user("hi"), LIMITS);
    assertEquals(List.of(new OpenAiRequest.Text("hi")), r.messages().get(0).parts());
    assertFalse(r.stream());
    assertTrue(r.images().isEmpty());
  }

  @Test
  void chatRefusalsNameTheFieldPath() {
    assertEquals("messages", refused(Endpoint.CHAT_COMPLETIONS, new JsonObject()).param());
    assertEquals(
        "messages",
        refused(Endpoint.CHAT_COMPLETIONS, new JsonObject().put("messages", new JsonArray()))
            .param());
    JsonObject badRole = user("hi");
    badRole.getJsonArray("messages").getJsonObject(0).put("role", "function");
    assertEquals("messages[0].role", refused(Endpoint.CHAT_COMPLETIONS, badRole).param());
    JsonObject assistantImage = user(imageAndText(PNG));
    assistantImage.getJsonArray("messages").getJsonObject(0).put("role", "assistant");
    assertEquals("messages[0].content", refused(Endpoint.CHAT_COMPLETIONS, assistantImage).param());
    assertEquals(
        "messages[0].content[0].image_url",
        refused(Endpoint.CHAT_COMPLETIONS, user(imageAndText("ftp://host/a.png"))).param());
    assertEquals(
        "messages[0].content[0].image_url",
        refused(Endpoint.CHAT_COMPLETIONS, user(imageAndText("data:text/plain;base64,aGk=")))
            .param());
    JsonArray unknownPart = new JsonArray().add(new JsonObject().put("type", "audio"));
    assertEquals(
        "messages[0].content[0].type",
        refused(Endpoint.CHAT_COMPLETIONS, user(unknownPart)).param());
  }

  @Test
  void moreImagesThanTheLimitAreRefusedNamingTheSetting() {
    JsonArray three = imageAndText(PNG);
    three.add(three.getValue(0)).add(three.getValue(0));
    ApiError e = refused(Endpoint.CHAT_COMPLETIONS, user(three));
    assertEquals("messages", e.param());
    assertTrue(e.getMessage().contains("limits.max-images-per-request"), e.getMessage());
  }

  @Test
  void anHttpImageUrlIsKeptForTheFetcher() {
    OpenAiRequest r =
        Endpoint.CHAT_COMPLETIONS.parse(user(imageAndText("https://example.com/a.png")), LIMITS);
    assertFalse(r.images().get(0).isDataUri());
  }

  @Test
  void aCompletionsPromptIsAStringOrAOneElementList() {
    OpenAiRequest r =
        Endpoint.COMPLETIONS.parse(new JsonObject().put("prompt", "once upon"), LIMITS);
    assertEquals(Endpoint.COMPLETIONS, r.endpoint());
    assertEquals("once upon", r.prompt());
    assertNull(r.messages());
    assertTrue(r.images().isEmpty());
    assertEquals(
        "a time",
        Endpoint.COMPLETIONS
            .parse(new JsonObject().put("prompt", new JsonArray().add("a time")), LIMITS)
            .prompt());
    assertEquals("prompt", refused(Endpoint.COMPLETIONS, new JsonObject()).param());
    assertEquals(
        "prompt", refused(Endpoint.COMPLETIONS, new JsonObject().put("prompt", "")).param());
    assertEquals(
        "prompt",
        refused(Endpoint.COMPLETIONS, new JsonObject().put("prompt", new JsonArray().add(1)))
            .param());
  }

  @Test
  void wronglyTypedOptionsNameTheirField() {
    assertEquals("model", refused(Endpoint.COMPLETIONS, prompt().put("model", 3)).param());
    assertEquals("stream", refused(Endpoint.COMPLETIONS, prompt().put("stream", "yes")).param());
    assertEquals(
        "stream_options",
        refused(Endpoint.COMPLETIONS, prompt().put("stream_options", true)).param());
  }

  private static JsonObject prompt() {
    return new JsonObject().put("prompt", "p");
  }
}
