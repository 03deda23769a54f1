package io.llavaserve.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ToolCallSyntaxTest {

  /** A tokenizer that knows only these added special tokens (by text) and nothing else. */
  static Tokenizer withTokens(Map<String, Integer> added) {
    return (Tokenizer)
        Proxy.newProxyInstance(
            Tokenizer.class.getClassLoader(),
            new Class<?>[] {Tokenizer.class},
            (proxy, method, args) -> {
              if (method.getName().equals("tokenId")) {
                Integer id = added.get((String) args[0]);
                return id == null ? OptionalInt.empty() : OptionalInt.of(id);
              }
              if (method.getName().equals("isSpecial")) {
                return added.containsValue((Integer) args[0]);
              }
              throw new UnsupportedOperationException(method.getName());
            });
  }

  static final Tokenizer PLAIN = withTokens(Map.of());

  static ChatTemplate jinja(String source) {
    return ChatTemplate.fromJinja(source, "<s>", "</s>");
  }

  @Test
  void aTemplateWithoutToolsKeepsTheDefaultWhateverTheTokenizerHolds() {
    Tokenizer mistral = withTokens(Map.of("[TOOL_CALLS]", 5, "<|python_tag|>", 6));
    assertEquals(ToolCallSyntax.DEFAULT, ToolCallSyntax.detect(ChatTemplate.vicunaV1(), mistral));
    assertEquals(
        ToolCallSyntax.DEFAULT,
        ToolCallSyntax.detect(jinja(ChatTemplate.VICUNA_V1_JINJA), mistral));
  }

  @Test
  void realTemplatesAreRecognised() throws Exception {
    ToolCallSyntax llama =
        ToolCallSyntax.detect(
            jinja(ToolTemplatesTest.template("llama-3.1-instruct.jinja")),
            withTokens(Map.of("<|eom_id|>", 128008, "<|python_tag|>", 128010)));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.LLAMA3_JSON, ToolCallIds.OPENAI, Set.of(128008), true),
        llama);
    assertEquals(
        Set.of(),
        ToolCallSyntax.detect(jinja(ToolTemplatesTest.template("llama-3.1-instruct.jinja")), PLAIN)
            .stopTokenIds());
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL, ToolCallIds.MISTRAL),
        ToolCallSyntax.detect(
            jinja(ToolTemplatesTest.template("mistral-7b-instruct-v0.3.jinja")), PLAIN));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL, ToolCallIds.MISTRAL, Set.of(), true),
        ToolCallSyntax.detect(
            jinja(ToolTemplatesTest.template("mistral-7b-instruct-v0.3.jinja")),
            withTokens(Map.of("[TOOL_CALLS]", 5))));
    assertEquals(
        ToolCallSyntax.DEFAULT,
        ToolCallSyntax.detect(
            jinja(ToolPromptTest.TOOLS_TEMPLATE.replace("<tools>", "<tool_call><tools>")),
            withTokens(Map.of("<|python_tag|>", 6, "<|eom_id|>", 7))));
  }

  @Test
  void aTemplateThatReadsToolsWithoutMarkersIsDecidedByTheTokenizer() {
    String reads = "{% for t in tools %}{{ t | tojson }}{% endfor %}";
    assertEquals(
        ToolCallFormat.MISTRAL,
        ToolCallSyntax.detect(jinja(reads), withTokens(Map.of("[TOOL_CALLS]", 5))).format());
    assertEquals(
        ToolCallFormat.LLAMA3_JSON,
        ToolCallSyntax.detect(jinja(reads), withTokens(Map.of("<|python_tag|>", 6))).format());
    assertEquals(ToolCallFormat.HERMES, ToolCallSyntax.detect(jinja(reads), PLAIN).format());
    // Mistral's ids only where its template checks them.
    assertEquals(
        ToolCallIds.OPENAI, ToolCallSyntax.detect(jinja("[AVAILABLE_TOOLS]" + reads), PLAIN).ids());
  }

  @Test
  void mistralsV11FormIsTheTokenizersWithAnArgsTokenOrTheTemplatesThatWriteIt() throws Exception {
    String v03 = ToolTemplatesTest.template("mistral-7b-instruct-v0.3.jinja");
    Tokenizer v11 = withTokens(Map.of("[TOOL_CALLS]", 5, "[ARGS]", 6, "[CALL_ID]", 7));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL_V11, ToolCallIds.MISTRAL, Set.of(), true),
        ToolCallSyntax.detect(jinja(v03), v11));
    String writesArgs =
        "{% for t in tools %}{% endfor %}{% for m in messages %}{% for c in m.tool_calls %}"
            + "{{ '[TOOL_CALLS]' + c.function.name + '[ARGS]' }}{% endfor %}{% endfor %}";
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL_V11, ToolCallIds.MISTRAL),
        ToolCallSyntax.detect(jinja(writesArgs), PLAIN));
    // [ARGS] only as text, not a token: the parser must still see it, kept when special.
    assertFalse(
        ToolCallSyntax.detect(jinja(writesArgs), withTokens(Map.of("<|python_tag|>", 3)))
            .keepSpecialTokens());
  }

  @Test
  void theTemplatesInTheNewFormatsAreRecognised() throws Exception {
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL_V11, ToolCallIds.MISTRAL, Set.of(), true),
        ToolCallSyntax.detect(
            jinja(ToolTemplatesTest.template("mistral-v11.jinja")),
            withTokens(Map.of("[TOOL_CALLS]", 5, "[ARGS]", 6, "[CALL_ID]", 7))));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.PYTHONIC, ToolCallIds.OPENAI),
        ToolCallSyntax.detect(
            jinja(ToolTemplatesTest.template("llama-3.2-pythonic.jinja")),
            withTokens(Map.of("<|eom_id|>", 128008, "<|python_tag|>", 128010))));
  }

  @Test
  void aTemplateAskingForAPythonListOfCallsIsPythonic() {
    String pythonic =
        "<|start_header_id|>system<|end_header_id|>{% if tools %}Respond in the format"
            + " [func_name1(params_name1=params_value1, params_name2=params_value2...),"
            + " func_name2(params)]{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}";
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.PYTHONIC, ToolCallIds.OPENAI),
        ToolCallSyntax.detect(
            jinja(pythonic), withTokens(Map.of("<|python_tag|>", 6, "<|eom_id|>", 7))));
    assertTrue(
        ToolCallSyntax.detect(jinja(pythonic), withTokens(Map.of("<|python_start|>", 8)))
            .keepSpecialTokens());
  }

  @Test
  void aParserNamedByHandOverridesTheTemplateAndNoneTurnsCallsOff() throws Exception {
    ChatTemplate llama = jinja(ToolTemplatesTest.template("llama-3.1-instruct.jinja"));
    Tokenizer tokens = withTokens(Map.of("<|eom_id|>", 128008, "<|python_tag|>", 128010));
    assertEquals(
        ToolCallSyntax.detect(llama, tokens),
        ToolCallSyntax.resolve(ToolCallParser.AUTO, llama, tokens));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.HERMES, ToolCallIds.OPENAI),
        ToolCallSyntax.resolve(ToolCallParser.HERMES, llama, tokens));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.PYTHONIC, ToolCallIds.OPENAI),
        ToolCallSyntax.resolve(ToolCallParser.PYTHONIC, llama, tokens));
    assertEquals(ToolCallSyntax.OFF, ToolCallSyntax.resolve(ToolCallParser.NONE, llama, tokens));
    assertFalse(ToolCallSyntax.OFF.readsCalls());
    // A template that knows nothing of tools still reads calls in the format named.
    assertEquals(
        ToolCallFormat.LLAMA3_JSON,
        ToolCallSyntax.resolve(ToolCallParser.LLAMA3_JSON, ChatTemplate.vicunaV1(), tokens)
            .format());
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL_V11, ToolCallIds.MISTRAL, Set.of(), true),
        ToolCallSyntax.resolve(
            ToolCallParser.MISTRAL,
            ChatTemplate.vicunaV1(),
            withTokens(Map.of("[TOOL_CALLS]", 5, "[ARGS]", 6))));
    assertEquals(
        new ToolCallSyntax(ToolCallFormat.MISTRAL, ToolCallIds.OPENAI),
        ToolCallSyntax.resolve(ToolCallParser.MISTRAL, ChatTemplate.vicunaV1(), PLAIN));
    assertEquals(
        List.of("auto", "hermes", "llama3_json", "mistral", "pythonic", "none"),
        ToolCallParser.configNames());
    assertEquals(
        java.util.Optional.of(ToolCallParser.LLAMA3_JSON),
        ToolCallParser.ofConfigName("LLAMA3_JSON"));
    assertTrue(ToolCallParser.ofConfigName("mistral_v11").isEmpty());
  }

  @Test
  void everyFormatHasItsOwnWireName() {
    for (ToolCallFormat f : ToolCallFormat.values()) {
      assertEquals(java.util.Optional.of(f), ToolCallFormat.ofWireName(f.wireName()));
    }
    assertEquals(java.util.Optional.of(ToolCallFormat.MISTRAL), ToolCallFormat.ofParser("mistral"));
  }

  @Test
  void idsHaveTheirStylesShape() {
    for (int i = 0; i < 100; i++) {
      String openai = ToolCallIds.OPENAI.newId();
      String mistral = ToolCallIds.MISTRAL.newId();
      assertTrue(openai.matches("call_[A-Za-z0-9]{24}"), openai);
      assertTrue(mistral.matches("[A-Za-z0-9]{9}"), mistral);
      assertTrue(ToolCallIds.MISTRAL.matches(mistral));
      assertFalse(ToolCallIds.MISTRAL.matches(openai));
    }
  }
}
