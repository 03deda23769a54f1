package io.llavaserve.web;

import static io.llavaserve.web.ToolCallsOverHttp.assertValidCall;
import static io.llavaserve.web.ToolCallsOverHttp.post;
import static io.llavaserve.web.ToolCallsOverHttp.reassemble;
import static io.llavaserve.web.ToolCallsOverHttp.stream;
import static io.llavaserve.web.ToolCallsOverHttp.withoutIds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.ToolTemplate;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Tool calling over HTTP on a tiny checkpoint that carries a real model's tool-calling chat
 * template (and its special tokens): forced calls in that model's format, valid and streamed as
 * OpenAI streams them, and a round trip through a tool's result rendered by the template. Each
 * format's test adds what only it has.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class ToolFormatServing {

  private Path dir;
  TestServer server;

  /** The template the checkpoint carries. */
  abstract ToolTemplate template();

  /** What the answers' call ids look like. */
  abstract String idPattern();

  /** Checks that the raw text of a forced answer (its tokens' text) is written in the format. */
  abstract void assertRawFormat(String raw);

  /**
   * Checks that a round trip's prompt holds the call and the tool's result as the template writes
   * them.
   */
  abstract void assertRoundTripPrompt(String prompt, JsonObject call);

  /** Text the template writes only when tools are offered. */
  abstract String toolsInPrompt();

  @BeforeAll
  void start() throws Exception {
    dir = Files.createTempDirectory("llava-serve-tool-format");
    server = TestServer.on(dir).toolTemplate(template()).start();
  }

  @AfterAll
  void stop() throws Exception {
    try {
      if (server != null) {
        server.close();
      }
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  JsonObject request(Object toolChoice, double temperature) {
    return ToolCallingTest.request(toolChoice, temperature, false);
  }

  @Test
  void forcedCallsAreValidInTheFormatAndStreamAsTheyAreAnsweredWhole() throws Exception {
    Object[][] cases = {
      {"required", Set.of("get_weather", "get_time")},
      {ToolCallingTest.named("get_time"), Set.of("get_time")},
      {ToolCallingTest.named("get_weather"), Set.of("get_weather")}
    };
    for (Object[] c : cases) {
      for (double temperature : new double[] {0, 1.0}) {
        for (boolean parallel : new boolean[] {true, false}) {
          JsonObject body = request(c[0], temperature).put("parallel_tool_calls", parallel);
          JsonObject choice = post(server, body).getJsonArray("choices").getJsonObject(0);
          String what = c[0] + " t=" + temperature + " parallel=" + parallel + ": " + choice;
          JsonObject message = choice.getJsonObject("message");
          assertNull(message.getValue("content"), what);
          JsonArray calls = message.getJsonArray("tool_calls");
          assertFalse(calls == null || calls.isEmpty(), what);
          int complete = calls.size();
          if (!parallel || c[0] instanceof JsonObject) {
            assertEquals("tool_calls", choice.getString("finish_reason"), what);
            assertEquals(1, calls.size(), what);
          } else if (choice.getString("finish_reason").equals("length")) {
            complete--; // the random model may call again until max_tokens cuts the last call
          } else {
            assertEquals("tool_calls", choice.getString("finish_reason"), what);
          }
          @SuppressWarnings("unchecked")
          Set<String> names = (Set<String>) c[1];
          for (int i = 0; i < complete; i++) {
            assertValidCall(calls.getJsonObject(i), names, idPattern());
          }
          String[] finish = {null};
          StringBuilder content = new StringBuilder();
          JsonArray streamed = reassemble(stream(server, body), idPattern(), finish, content);
          assertEquals("", content.toString(), "no markup reaches the content: " + what);
          assertEquals(choice.getString("finish_reason"), finish[0], what);
          if (temperature == 0) {
            assertEquals(withoutIds(calls), withoutIds(streamed), "same calls streamed: " + what);
          }
        }
      }
    }
  }

  @Test
  void theModelWritesItsCallsInItsOwnFormat() throws Exception {
    JsonObject answer =
        post(
            server, request("required", 0).put("parallel_tool_calls", false).put("logprobs", true));
    JsonArray tokens =
        answer
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("logprobs")
            .getJsonArray("content");
    ByteArrayOutputStream raw = new ByteArrayOutputStream();
    for (int i = 0; i < tokens.size(); i++) {
      for (Object b : tokens.getJsonObject(i).getJsonArray("bytes")) {
        raw.write((Integer) b);
      }
    }
    assertRawFormat(raw.toString(StandardCharsets.UTF_8).strip());
  }

  @Test
  void aRoundTripThroughAToolsResultRendersThroughTheTemplate() throws Exception {
    JsonObject plain =
        post(server, request("required", 0).put("parallel_tool_calls", false))
            .getJsonArray("choices")
            .getJsonObject(0);
    JsonArray calls = plain.getJsonObject("message").getJsonArray("tool_calls");
    assertEquals(1, calls.size(), plain.encode());
    JsonObject call = calls.getJsonObject(0);
    JsonArray messages =
        new JsonArray()
            .add(new JsonObject().put("role", "user").put("content", "Weather in Oslo?"))
            .add(
                new JsonObject()
                    .put("role", "assistant")
                    .putNull("content")
                    .put("tool_calls", calls))
            .add(
                new JsonObject()
                    .put("role", "tool")
                    .put("tool_call_id", call.getString("id"))
                    .put("content", "{\"temp\": 3}"));
    JsonObject followUp =
        new JsonObject()
            .put("model", TestServer.MODEL_ID)
            .put("messages", messages)
            .put("tools", ToolCallingTest.TOOLS)
            .put("max_tokens", 8)
            .put("temperature", 0);
    assertRoundTripPrompt(ToolCallsOverHttp.prompt(server, followUp), call);

    JsonObject answer = post(server, followUp);
    JsonObject choice = answer.getJsonArray("choices").getJsonObject(0);
    assertTrue(Set.of("stop", "length", "tool_calls").contains(choice.getString("finish_reason")));
    JsonObject question = post(server, request("auto", 0).put("max_tokens", 1));
    assertTrue(
        answer.getJsonObject("usage").getInteger("prompt_tokens")
            > question.getJsonObject("usage").getInteger("prompt_tokens"));
    String[] finish = {null};
    reassemble(stream(server, followUp), idPattern(), finish, new StringBuilder());
    assertEquals(choice.getString("finish_reason"), finish[0]);
  }

  @Test
  void toolChoiceNoneOffersNoToolsAndLeavesTheTextAlone() throws Exception {
    JsonObject none = request("none", 0).put("max_tokens", 6);
    assertFalse(ToolCallsOverHttp.prompt(server, none).contains(toolsInPrompt()));
    assertTrue(ToolCallsOverHttp.prompt(server, request("auto", 0)).contains(toolsInPrompt()));
    JsonObject choice = post(server, none).getJsonArray("choices").getJsonObject(0);
    assertTrue(choice.getJsonObject("message").getValue("content") instanceof String);
    assertNull(choice.getJsonObject("message").getValue("tool_calls"));
    assertFalse(choice.getString("finish_reason").equals("tool_calls"));
  }
}
