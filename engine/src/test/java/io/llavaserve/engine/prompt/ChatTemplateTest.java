package io.llavaserve.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {

  /** The chat template llava-hf/llava-1.5-7b-hf ships in chat_template.json. */
  static final String LLAVA_15_HF =
      "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper()"
          + " + ': '}}{% endif %}{# Render all images first #}{% for content in message['content']"
          + " | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n"
          + "' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}{%"
          + " for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{"
          + " content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] |"
          + " selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{%"
          + " endgeneration %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{"
          + " 'ASSISTANT:' }}{% endif %}";

  static final List<ChatMessage> ONE_IMAGE =
      List.of(ChatMessage.of("user", ContentPart.image(), ContentPart.text("What is shown?")));

  static final List<ChatMessage> MULTI_TURN =
      List.of(
          ChatMessage.of("user", ContentPart.text("What is shown?"), ContentPart.image()),
          ChatMessage.text("assistant", "A cat."),
          ChatMessage.of("user", ContentPart.image(), ContentPart.text("And this one?")));

  @Test
  void vicunaSingleImage() {
    assertEquals(
        "USER: <image>\nWhat is shown? ASSISTANT:",
        ChatTemplate.vicunaV1().render(ONE_IMAGE, true));
    assertEquals("USER: <image>\nWhat is shown?", ChatTemplate.vicunaV1().render(ONE_IMAGE, false));
  }

  @Test
  void vicunaMultiTurnEndsAnswersWithEos() {
    assertEquals(
        "USER: <image>\n"
            + "What is shown? ASSISTANT: A cat.</s>USER: <image>\n"
            + "And this one? ASSISTANT:",
        ChatTemplate.vicunaV1().render(MULTI_TURN, true));
  }

  @Test
  void vicunaSystemAndSeveralImages() {
    List<ChatMessage> messages =
        List.of(
            ChatMessage.text("system", "Be brief."),
            ChatMessage.of(
                "user", ContentPart.image(), ContentPart.image(), ContentPart.text("Compare.")));
    assertEquals(
        "Be brief. USER: <image>\n<image>\nCompare. ASSISTANT:",
        ChatTemplate.vicunaV1().render(messages, true));
  }

  @Test
  void llavaHfTemplateRendersLikeTransformers() {
    ChatTemplate template = ChatTemplate.fromJinja(LLAVA_15_HF, "<s>", "</s>");
    assertEquals("USER: <image>\nWhat is shown? ASSISTANT:", template.render(ONE_IMAGE, true));
    assertEquals(
        "USER: <image>\nWhat is shown? ASSISTANT: A cat. USER: <image>\nAnd this one? ASSISTANT:",
        template.render(MULTI_TURN, true));
    assertEquals(
        "Be brief. USER: Hi ",
        template.render(
            List.of(ChatMessage.text("system", "Be brief."), ChatMessage.text("user", "Hi")),
            false));
  }

  @Test
  void pythonStringMethodsWork() {
    String source =
        "{% for m in messages %}[{{ m['role'].upper() }}|{{ m['content'][0]['text'].strip() }}|"
            + "{{ m['content'][0]['text'].lstrip() }}|{{ m['content'][0]['text'].rstrip('! ') }}|"
            + "{{ m['content'][0]['text'].strip().startswith('hi') }}|"
            + "{{ m['content'][0]['text'].endswith('!') }}|{{ 'x'.title() }}]{% endfor %}.upper()";
    ChatTemplate template = ChatTemplate.fromJinja(source, "<s>", "</s>");
    assertEquals(
        "[USER|hi there!|hi there!|  hi there|true|true|X].upper()",
        template.render(List.of(ChatMessage.text("user", "  hi there!")), false));
  }

  @Test
  void bosAndEosTokensAreAvailable() {
    ChatTemplate template =
        ChatTemplate.fromJinja(
            "{{ bos_token }}{% for m in messages %}{{ m['content'][0]['text'] }}{{ eos_token }}{%"
                + " endfor %}",
            "<s>", "</s>");
    assertEquals("<s>Hi</s>", template.render(List.of(ChatMessage.text("user", "Hi")), false));
  }

  @Test
  void raiseExceptionRejectsWithTheTemplatesMessage() {
    ChatTemplate template =
        ChatTemplate.fromJinja(
            "{% for m in messages %}{% if m['role'] == 'system' %}"
                + "{{ raise_exception('System role not supported') }}{% endif %}{% endfor %}ok",
            "<s>", "</s>");
    assertEquals("ok", template.render(List.of(ChatMessage.text("user", "Hi")), false));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> template.render(List.of(ChatMessage.text("system", "x")), false));
    assertTrue(e.getMessage().contains("System role not supported"), e.getMessage());
  }

  @Test
  void forCheckpointPrefersChatTemplateJson(@TempDir Path dir) throws Exception {
    Path config = dir.resolve("tokenizer_config.json");
    Path chat = dir.resolve("chat_template.json");
    assertEquals(
        "USER: <image>\nWhat is shown? ASSISTANT:",
        ChatTemplate.forCheckpoint(config, chat).render(ONE_IMAGE, true));

    Files.writeString(
        config,
        "{\"chat_template\": \"CFG{{ bos_token }}\", \"bos_token\": {\"content\": \"<B>\"}}");
    assertEquals("CFG<B>", ChatTemplate.forCheckpoint(config, chat).render(ONE_IMAGE, true));

    Files.writeString(chat, "{\"chat_template\": \"CHAT{{ messages|length }}\"}");
    assertEquals("CHAT1", ChatTemplate.forCheckpoint(config, chat).render(ONE_IMAGE, true));
  }

  @Test
  void messagesAreValidated() {
    assertThrows(IllegalArgumentException.class, () -> ChatMessage.text("tool", "x"));
    assertThrows(NullPointerException.class, () -> ChatMessage.text("user", null));
    assertThrows(
        IllegalArgumentException.class, () -> ChatMessage.of("assistant", ContentPart.image()));
  }

  @Test
  void theVicunaJinjaTemplateRendersExactlyAsTheBuiltInVicunaFormat() {
    ChatTemplate jinja = ChatTemplate.fromJinja(ChatTemplate.VICUNA_V1_JINJA, "<s>", "</s>");
    ChatTemplate builtIn = ChatTemplate.vicunaV1();
    List<List<ChatMessage>> conversations =
        List.of(
            ONE_IMAGE,
            MULTI_TURN,
            List.of(ChatMessage.text("user", "Hello")),
            List.of(
                ChatMessage.text("system", "Be brief."),
                ChatMessage.of(
                    "user", ContentPart.text("a"), ContentPart.image(), ContentPart.text("b")),
                ChatMessage.text("assistant", "Two."),
                ChatMessage.text("user", "More?"),
                ChatMessage.text("assistant", "No.")));
    for (List<ChatMessage> c : conversations) {
      for (boolean prompt : new boolean[] {true, false}) {
        assertEquals(builtIn.render(c, prompt), jinja.render(c, prompt), c + " " + prompt);
      }
    }
  }
}
