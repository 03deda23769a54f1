package io.llavaserve.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;

class PromptBuilderTest {

  private static final LlamaTokenizer TOK = LlamaTokenizer.bundledLlama();
  private static final int IMAGE = 32000;

  @Test
  void singleImagePromptHasBosAndOneImageToken() {
    PromptBuilder.Prompt prompt =
        PromptBuilder.build(TOK, ChatTemplate.vicunaV1(), ChatTemplateTest.ONE_IMAGE);
    assertArrayEquals(
        new int[] {
          1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 338, 4318, 29973, 319, 1799, 9047,
          13566, 29901
        },
        prompt.ids());
    assertEquals(1, prompt.imageCount());
  }

  @Test
  void llavaHfTemplateGivesTheSameIdsAsVicuna() {
    ChatTemplate hf = ChatTemplate.fromJinja(ChatTemplateTest.LLAVA_15_HF, "<s>", "</s>");
    assertEquals(
        PromptBuilder.build(TOK, ChatTemplate.vicunaV1(), ChatTemplateTest.ONE_IMAGE),
        PromptBuilder.build(TOK, hf, ChatTemplateTest.ONE_IMAGE));
  }

  @Test
  void countsImagesOverTurns() {
    PromptBuilder.Prompt prompt =
        PromptBuilder.build(TOK, ChatTemplate.vicunaV1(), ChatTemplateTest.MULTI_TURN);
    assertEquals(2, prompt.imageCount());
    assertEquals(1, prompt.ids()[0]);
    // The earlier answer's "</s>" text is the EOS id, and only one BOS is there.
    assertEquals(1, java.util.Arrays.stream(prompt.ids()).filter(id -> id == 2).count());
    assertEquals(1, java.util.Arrays.stream(prompt.ids()).filter(id -> id == 1).count());
  }

  @Test
  void imageTextInAMessageIsAMismatch() {
    List<ChatMessage> messages =
        List.of(ChatMessage.of("user", ContentPart.image(), ContentPart.text("see <image>")));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> PromptBuilder.build(TOK, ChatTemplate.vicunaV1(), messages));
    assertTrue(e.getMessage().contains("2 image token(s)"), e.getMessage());
    assertTrue(e.getMessage().contains("1 image part(s)"), e.getMessage());
  }

  @Test
  void templateThatWritesBosDoesNotGetASecondOne() {
    ChatTemplate template =
        ChatTemplate.fromJinja(
            "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}", "<s>", "</s>");
    PromptBuilder.Prompt prompt =
        PromptBuilder.build(TOK, template, List.of(ChatMessage.text("user", "Hello")));
    assertArrayEquals(new int[] {1, 15043}, prompt.ids());
  }

  @Test
  void rawPromptsCountImageMarkers() {
    PromptBuilder.Prompt prompt =
        PromptBuilder.raw(TOK, "USER: <image>\n<image>\nCompare. ASSISTANT:", IMAGE);
    assertEquals(2, prompt.imageCount());
    assertEquals(1, prompt.ids()[0]);
    assertEquals(0, PromptBuilder.raw(TOK, "no images", IMAGE).imageCount());
    assertArrayEquals(new int[] {1, 15043}, PromptBuilder.raw(TOK, "<s>Hello", IMAGE).ids());
  }
}
