package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionTool;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.chat.completions.StructuredChatCompletion;
import com.openai.models.chat.completions.StructuredChatCompletionCreateParams;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The official OpenAI Java SDK, unmodified, as a client; the server also requires an API key. */
class OpenAiSdkTest {

  @TempDir static Path dir;
  static TestServer s;
  static OpenAIClient client;

  @BeforeAll
  static void start() throws Exception {
    s = TestServer.on(dir).apiKeys("k-one", "sk-secret").start();
    client =
        OpenAIOkHttpClient.builder()
            .baseUrl("http://127.0.0.1:" + s.server.port() + "/v1")
            .apiKey("sk-secret")
            .maxRetries(0)
            .build();
  }

  @AfterAll
  static void stop() {
    s.close();
  }

  static ChatCompletionCreateParams params() {
    return ChatCompletionCreateParams.builder()
        .model(TestServer.MODEL_ID)
        .addUserMessage("Say something")
        .maxCompletionTokens(6)
        .temperature(0.0)
        .build();
  }

  @Test
  void nonStreaming() {
    ChatCompletion c = client.chat().completions().create(params());
    assertEquals(TestServer.MODEL_ID, c.model());
    assertEquals(1, c.choices().size());
    assertTrue(c.usage().isPresent());
    assertTrue(c.usage().get().completionTokens() >= 1);
    assertTrue(c.choices().get(0).message().content().isPresent());
  }

  @Test
  void streaming() {
    StringBuilder text = new StringBuilder();
    String[] finish = {null};
    try (StreamResponse<ChatCompletionChunk> stream =
        client.chat().completions().createStreaming(params())) {
      stream.stream()
          .forEach(
              chunk ->
                  chunk
                      .choices()
                      .forEach(
                          ch -> {
                            ch.delta().content().ifPresent(text::append);
                            ch.finishReason().ifPresent(f -> finish[0] = f.asString());
                          }));
    }
    assertTrue(finish[0] != null);
    ChatCompletion whole = client.chat().completions().create(params());
    assertEquals(whole.choices().get(0).message().content().orElse(""), text.toString());
  }

  @Test
  void aToolRoundTripThroughTheSdk() {
    ChatCompletionTool weather =
        ChatCompletionTool.builder()
            .function(
                FunctionDefinition.builder()
                    .name("get_weather")
                    .description("Weather in a city")
                    .parameters(
                        FunctionParameters.builder()
                            .putAdditionalProperty("type", JsonValue.from("object"))
                            .putAdditionalProperty(
                                "properties",
                                JsonValue.from(
                                    Map.of("city", Map.of("type", "string", "maxLength", 6))))
                            .putAdditionalProperty("required", JsonValue.from(List.of("city")))
                            .putAdditionalProperty("additionalProperties", JsonValue.from(false))
                            .build())
                    .build())
            .build();
    ChatCompletionCreateParams ask =
        ChatCompletionCreateParams.builder()
            .model(TestServer.MODEL_ID)
            .addUserMessage("Weather in Oslo?")
            .addTool(weather)
            .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED)
            .parallelToolCalls(false)
            .maxCompletionTokens(200)
            .temperature(0.0)
            .build();
    ChatCompletion first = client.chat().completions().create(ask);
    ChatCompletion.Choice choice = first.choices().get(0);
    assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, choice.finishReason());
    List<ChatCompletionMessageToolCall> calls = choice.message().toolCalls().orElseThrow();
    assertEquals(1, calls.size());
    assertEquals("get_weather", calls.get(0).function().name());
    assertTrue(
        new io.vertx.core.json.JsonObject(calls.get(0).function().arguments()).containsKey("city"));

    ChatCompletionCreateParams answer =
        ask.toBuilder()
            .addMessage(choice.message())
            .addMessage(
                ChatCompletionToolMessageParam.builder()
                    .toolCallId(calls.get(0).id())
                    .content("{\"temperature\": 3}")
                    .build())
            .toolChoice(ChatCompletionToolChoiceOption.Auto.AUTO)
            .maxCompletionTokens(5)
            .build();
    ChatCompletion second = client.chat().completions().create(answer);
    assertTrue(
        second.usage().orElseThrow().promptTokens() > first.usage().orElseThrow().promptTokens());
  }

  /** A shape as the SDK's structured-output helper turns a class into a strict JSON schema. */
  public static class Sighting {
    public enum Hue {
      RED,
      GREEN,
      BLUE
    }

    public enum Side {
      LEFT,
      RIGHT
    }

    public static class Place {
      public Side side;
      public boolean near;
    }

    public Hue color;
    public boolean present;
    public Place where;
    public List<Hue> others;
  }

  @Test
  void structuredOutputThroughTheSdksClassHelper() {
    // The SDK derives a strict schema from the class (every field required, no extra ones) and
    // parses the answer back into it: a random model, constrained, must still give a valid one.
    for (long seed = 1; seed <= 3; seed++) {
      StructuredChatCompletionCreateParams<Sighting> ask =
          ChatCompletionCreateParams.builder()
              .model(TestServer.MODEL_ID)
              .addUserMessage("What do you see?")
              .responseFormat(Sighting.class)
              .maxCompletionTokens(400)
              .temperature(1.0)
              .seed(seed)
              .build();
      StructuredChatCompletion<Sighting> got = client.chat().completions().create(ask);
      StructuredChatCompletion.Choice<Sighting> choice = got.choices().get(0);
      assertEquals(ChatCompletion.Choice.FinishReason.STOP, choice.finishReason());
      Sighting s = choice.message().content().orElseThrow();
      assertTrue(s.color != null && s.where != null && s.where.side != null, "seed " + seed);
      assertTrue(s.others != null && s.others.stream().allMatch(java.util.Objects::nonNull));
    }
  }

  @Test
  void apiKeys() throws Exception {
    String body = ChatCompletionsTest.chat("hi", 2).encode();
    assertEquals(401, s.post("/v1/chat/completions", body).statusCode());
    HttpResponse<String> wrong =
        s.post("/v1/chat/completions", body, "Authorization", "Bearer sk-wrong");
    assertEquals(401, wrong.statusCode());
    assertTrue(wrong.body().contains("invalid_api_key"));
    assertEquals(401, s.get("/v1/models", "Authorization", "Bearer sk-secre").statusCode());
    assertEquals(
        200,
        s.post("/v1/chat/completions", body, "Authorization", "Bearer sk-secret").statusCode());
    assertEquals(200, s.get("/v1/models", "Authorization", "Bearer k-one").statusCode());
    assertEquals(200, s.get("/health").statusCode());
    assertEquals(200, s.get("/ready").statusCode());
  }
}
