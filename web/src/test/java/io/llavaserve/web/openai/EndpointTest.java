package io.llavaserve.web.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.web.errors.ApiError;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** What tells the two endpoints apart: path, id prefix, answer shape, the names of fields. */
class EndpointTest {

  static final RequestRejectedException TOO_LONG =
      new RequestRejectedException(
          "prompt",
          2048,
          3000,
          "prompt: the prompt fills 3000 positions (limits.max-prompt-tokens)");

  @Test
  void eachEndpointIsFoundByItsPath() {
    assertEquals(Optional.of(Endpoint.CHAT_COMPLETIONS), Endpoint.at("/v1/chat/completions"));
    assertEquals(Optional.of(Endpoint.COMPLETIONS), Endpoint.at("/v1/completions"));
    assertEquals(Optional.empty(), Endpoint.at("/v1/embeddings"));
    assertEquals("chatcmpl-", Endpoint.CHAT_COMPLETIONS.idPrefix());
    assertEquals("cmpl-", Endpoint.COMPLETIONS.idPrefix());
  }

  @Test
  void aChatPromptTooLongIsAFaultOfItsMessages() {
    ApiError e = Endpoint.CHAT_COMPLETIONS.rejection(TOO_LONG);
    assertEquals(400, e.status());
    assertEquals("messages", e.param());
    assertEquals(
        "messages: the prompt fills 3000 positions (limits.max-prompt-tokens)", e.getMessage());
  }

  @Test
  void aCompletionsPromptTooLongIsAFaultOfItsPrompt() {
    ApiError e = Endpoint.COMPLETIONS.rejection(TOO_LONG);
    assertEquals("prompt", e.param());
    assertEquals(TOO_LONG.getMessage(), e.getMessage());
  }

  @Test
  void otherFieldsKeepTheirNames() {
    RequestRejectedException maxTokens =
        new RequestRejectedException("max_tokens", 10, 50, "max_tokens: 50 ... 10 fit");
    for (Endpoint endpoint : Endpoint.values()) {
      assertEquals("max_tokens", endpoint.rejection(maxTokens).param());
    }
    RequestRejectedException images = new RequestRejectedException("images", 1, 0, "images: ...");
    assertEquals("images", Endpoint.COMPLETIONS.rejection(images).param());
    assertEquals("messages", Endpoint.CHAT_COMPLETIONS.rejection(images).param());
  }

  @Test
  void eachEndpointAnswersInItsOwnShape() {
    ResponseFormat.Meta meta = new ResponseFormat.Meta("id-1", 1, "m", false);
    assertInstanceOf(ChatFormat.class, Endpoint.CHAT_COMPLETIONS.format(meta, null));
    assertInstanceOf(TextFormat.class, Endpoint.COMPLETIONS.format(meta, null));
    assertTrue(
        Endpoint.CHAT_COMPLETIONS
            .format(meta, null)
            .usageChunk(new Usage(3, 0, 2))
            .getString("object")
            .startsWith("chat.completion"));
    assertEquals(
        "text_completion",
        Endpoint.COMPLETIONS.format(meta, null).usageChunk(new Usage(3, 0, 2)).getString("object"));
  }
}
