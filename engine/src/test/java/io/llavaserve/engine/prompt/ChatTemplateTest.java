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
        "{% for m in messages %}[{{ m['role'].upper() }}|{{ m['content'].strip() }}|"
            + "{{ m['content'].lstrip() }}|{{ m['content'].rstrip('! ') }}|"
            + "{{ m['content'].strip().startswith('hi') }}|"
            + "{{ m['content'].endswith('!') }}|{{ 'x'.title() }}]{% endfor %}.upper()";
    ChatTemplate template = ChatTemplate.fromJinja(source, "<s>", "</s>");
    assertEquals(
        "[USER|hi there!|hi there!|  hi there|true|true|X].upper()",
        template.render(List.of(ChatMessage.text("user", "  hi there!")), false));
  }

  @Test
  void aTemplateThatLoopsOverContentGetsPartsAnyOtherAStringWithImageLines() {
    List<ChatMessage> messages =
        List.of(
            ChatMessage.of(
                "user",
                ContentPart.text("Compare"),
                ContentPart.image(),
                ContentPart.text("these"),
                ContentPart.image()));
    String printsContent = "{% for m in messages %}{{ m['content'] | tojson }}{% endfor %}";
    assertEquals(
        "\"<image>\\n<image>\\nCompare\\nthese\"",
        ChatTemplate.fromJinja(printsContent, "<s>", "</s>").render(messages, false));
    for (String loop :
        List.of(
            "{% for p in m['content'] %}{% endfor %}",
            "{% for p in m.content | selectattr('type', 'equalto', 'text') %}{% endfor %}",
            "{%- set parts = m[\"content\"] %}{% for p in parts if p.type == 'text' %}{% endfor %}")) {
      String template = "{% for m in messages %}" + loop + "{% endfor %}" + printsContent;
      assertEquals(
          "[{\"type\": \"text\", \"text\": \"Compare\"}, {\"type\": \"image\"},"
              + " {\"type\": \"text\", \"text\": \"these\"}, {\"type\": \"image\"}]",
          ChatTemplate.fromJinja(template, "<s>", "</s>").render(messages, false),
          loop);
    }
  }

  @Test
  void notBindsLooserThanTestsAndComparisonsAsInJinja2() {
    List<ChatMessage> two = List.of(ChatMessage.text("user", "a"), ChatMessage.text("user", "b"));
    String source =
        "{% if not messages|length == 1 %}A{% endif %}"
            + "{% if not nothing is defined %}B{% endif %}"
            + "{% if not messages is none and not messages[0].role is string %}C{% endif %}"
            + "{{ 'x' not in 'abc' }}|{{ messages[0] is not none }}|{{ not not messages }}"
            + "{% for m in messages if not m.content == 'a' %}{{ m.content }}{% endfor %}"
            + "{%- for m in messages if m.content != 'a' -%} {{ loop.index }}/{{ loop.length }}"
            + "{%- endfor %}";
    assertEquals(
        "AB" + "true|true|true" + "b" + "1/1",
        ChatTemplate.fromJinja(source, "<s>", "</s>").render(two, false));
  }

  @Test
  void jinja2FiltersAndTestsBehaveAsInPython() {
    String source =
        "{{ {'a': [1, 2.5, none, true], 'b': {} } | tojson(indent=2) }}|"
            + "{{ {'b': 1, 'a': 'x'} | tojson(separators=(',', ':'), sort_keys=true) }}|"
            + "{% for k, v in {'k': 'v', 'n': 1} | items %}{{ k }}={{ v }};{% endfor %}|"
            + "{{ none | string }} {{ true | string }} {{ ['a', {'k': none}, 1.0] | string }}|"
            + "{{ 'abc' is iterable }} {{ {'a': 1} is iterable }} {{ 3 is iterable }}|"
            + "{{ 'abc'[:-1] }}";
    assertEquals(
        "{\n  \"a\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"b\": {}\n}|"
            + "{\"a\":\"x\",\"b\":1}|k=v;n=1;|None True ['a', {'k': None}, 1.0]|"
            + "true true false|ab",
        ChatTemplate.fromJinja(source, "<s>", "</s>")
            .render(List.of(ChatMessage.text("user", "x")), false));
  }

  @Test
  void strftimeNowIsDefinedAndFormatsAsPython() {
    ChatTemplate template =
        ChatTemplate.fromJinja(
            "{% if strftime_now is defined %}{{ strftime_now('%Y-%m-%d|%d %b %Y|%%') }}{% endif %}",
            "<s>", "</s>");
    java.time.LocalDate before = java.time.LocalDate.now();
    String rendered = template.render(List.of(ChatMessage.text("user", "x")), false);
    java.time.LocalDate after = java.time.LocalDate.now();
    java.time.format.DateTimeFormatter f =
        java.time.format.DateTimeFormatter.ofPattern(
            "yyyy-MM-dd|dd MMM yyyy|%", java.util.Locale.US);
    assertTrue(rendered.equals(f.format(before)) || rendered.equals(f.format(after)), rendered);
    assertEquals(
        "Sat Saturday Jul July 04 07 26 2026 13 01 05 09 PM 185 %q",
        Strftime.format(
            java.time.LocalDateTime.of(2026, 7, 4, 13, 5, 9),
            "%a %A %b %B %d %m %y %Y %H %I %M %S %p %j %q"));
  }

  @Test
  void bosAndEosTokensAreAvailable() {
    ChatTemplate template =
        ChatTemplate.fromJinja(
            "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}",
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
