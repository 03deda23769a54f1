package io.llavaserve.engine.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Turns chat messages into the prompt text a model was trained on: either the checkpoint's own
 * Jinja {@code chat_template} or the llava-1.5 Vicuna v1 format.
 *
 * <p>Images are written as {@code <image>} text; {@link PromptBuilder} turns the rendered text into
 * ids with one image token per image.
 */
public final class ChatTemplate {

  /** Renders messages; both implementations are stateless and thread-safe. */
  private interface Renderer {
    String render(
        List<ChatMessage> messages, List<ToolDefinition> tools, boolean addGenerationPrompt);
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * {@link #vicunaV1()} as a Hugging Face Jinja template, for checkpoints this project writes
   * ({@code chat_template.json}), so transformers renders their prompts as this server does.
   * Content may be a string or a list of {@code image} and {@code text} parts; images come first.
   */
  public static final String VICUNA_V1_JINJA =
      "{% for message in messages %}"
          + "{% if not loop.first and messages[loop.index0 - 1]['role'] != 'assistant' %}"
          + "{{ ' ' }}{% endif %}"
          + "{% if message['role'] == 'user' %}{{ 'USER: ' }}"
          + "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' }}{% endif %}"
          + "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
          + "{% if message['role'] == 'user' %}"
          + "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
          + "{{ '<image>\\n' }}{% endif %}{% endfor %}{% endif %}"
          + "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
          + "{% if not loop.first %}{{ ' ' }}{% endif %}{{ part['text'] }}{% endfor %}"
          + "{% endif %}"
          + "{% if message['role'] == 'assistant' %}{{ '</s>' }}{% endif %}"
          + "{% endfor %}"
          + "{% if add_generation_prompt %}"
          + "{% if messages | length > 0 and messages[-1]['role'] != 'assistant' %}{{ ' ' }}{% endif %}"
          + "{{ 'ASSISTANT:' }}{% endif %}";

  private final Renderer renderer;
  private final String description;
  private final boolean knowsTools;
  private final String source;

  private ChatTemplate(Renderer renderer, String description, boolean knowsTools, String source) {
    this.renderer = renderer;
    this.description = description;
    this.knowsTools = knowsTools;
    this.source = source;
  }

  /**
   * llava-1.5's conversation format (LLaVA's {@code conv_vicuna_v1} with images in front): {@code
   * [system ]USER: <image>\n{text} ASSISTANT: {answer}</s>USER: ...}. A single user message with
   * one image renders as {@code USER: <image>\nWhat is shown? ASSISTANT:}.
   */
  public static ChatTemplate vicunaV1() {
    return new ChatTemplate(
        (messages, tools, addGenerationPrompt) -> renderVicunaV1(messages, addGenerationPrompt),
        "vicuna_v1",
        false,
        null);
  }

  /** A Hugging Face Jinja chat template, rendered the way transformers renders it. */
  public static ChatTemplate fromJinja(String template, String bosToken, String eosToken) {
    Objects.requireNonNull(template, "template");
    JinjaRenderer jinja = new JinjaRenderer(template, bosToken, eosToken);
    return new ChatTemplate(jinja::render, "jinja", jinja.knowsTools(), template);
  }

  /**
   * The checkpoint's own template if it has one, else {@link #vicunaV1()}. The processor's {@code
   * chat_template.json} (where llava-hf ships it) wins over {@code tokenizer_config.json}'s {@code
   * chat_template}. Either path may point at a missing file.
   *
   * @throws UncheckedIOException when a file exists but cannot be read as JSON
   */
  public static ChatTemplate forCheckpoint(Path tokenizerConfigJson, Path chatTemplateJson) {
    JsonNode config = readIfExists(tokenizerConfigJson);
    JsonNode chatTemplate = readIfExists(chatTemplateJson);
    String template = templateText(chatTemplate.get("chat_template"));
    if (template == null) {
      template = templateText(config.get("chat_template"));
    }
    if (template == null) {
      return vicunaV1();
    }
    return fromJinja(
        template,
        tokenText(config.get("bos_token"), "<s>"),
        tokenText(config.get("eos_token"), "</s>"));
  }

  /**
   * Renders the conversation.
   *
   * @param addGenerationPrompt whether to end with the cue for the assistant's next answer
   * @throws IllegalArgumentException when the template rejects the messages or fails
   */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    return render(messages, List.of(), addGenerationPrompt);
  }

  /**
   * Renders the conversation with the tools the model may call. A Jinja template that reads {@code
   * tools} gets them, and the messages' calls and results, as transformers passes them; any other
   * template renders the conversation in {@link ToolPrompt}'s default format.
   *
   * @throws IllegalArgumentException when the template rejects the messages or fails
   */
  public String render(
      List<ChatMessage> messages, List<ToolDefinition> tools, boolean addGenerationPrompt) {
    Objects.requireNonNull(messages, "messages");
    Objects.requireNonNull(tools, "tools");
    boolean toolTalk =
        !tools.isEmpty()
            || messages.stream().anyMatch(m -> m.role().equals("tool") || !m.toolCalls().isEmpty());
    if (toolTalk && !knowsTools) {
      return renderer.render(ToolPrompt.inline(messages, tools), List.of(), addGenerationPrompt);
    }
    return renderer.render(List.copyOf(messages), List.copyOf(tools), addGenerationPrompt);
  }

  /** Whether the template renders tools itself (else {@link ToolPrompt}'s format is used). */
  public boolean knowsTools() {
    return knowsTools;
  }

  /** The Jinja source, or null for the built-in Vicuna format. */
  String source() {
    return source;
  }

  @Override
  public String toString() {
    return "ChatTemplate[" + description + "]";
  }

  private static String renderVicunaV1(List<ChatMessage> messages, boolean addGenerationPrompt) {
    // Parts are separated by " ", except that an answer's "</s>" is itself the separator.
    StringBuilder out = new StringBuilder();
    String separator = "";
    for (ChatMessage message : messages) {
      out.append(separator);
      switch (message.role()) {
        case "system" -> {
          out.append(message.joinedText());
          separator = " ";
        }
        case "user" -> {
          out.append("USER: ").append("<image>\n".repeat(message.imageCount()));
          out.append(message.joinedText());
          separator = " ";
        }
        default -> {
          out.append("ASSISTANT: ").append(message.joinedText()).append("</s>");
          separator = "";
        }
      }
    }
    if (addGenerationPrompt) {
      out.append(separator).append("ASSISTANT:");
    }
    return out.toString();
  }

  private static JsonNode readIfExists(Path path) {
    if (path == null || !Files.isRegularFile(path)) {
      return JSON.createObjectNode();
    }
    try {
      return JSON.readTree(path.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path, e);
    }
  }

  /** A template is a string, or a list of {name, template} of which "default" is used. */
  private static String templateText(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    if (node.isTextual()) {
      return node.asText();
    }
    for (JsonNode named : node) {
      if ("default".equals(named.path("name").asText())) {
        return named.path("template").asText();
      }
    }
    return null;
  }

  /** A config token is a string or an AddedToken dict with {@code content}. */
  private static String tokenText(JsonNode node, String fallback) {
    if (node == null || node.isNull()) {
      return fallback;
    }
    return node.isTextual() ? node.asText() : node.path("content").asText(fallback);
  }
}
