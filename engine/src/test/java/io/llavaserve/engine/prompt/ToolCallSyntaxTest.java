package io.llavaserve.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.lang.reflect.Proxy;
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
