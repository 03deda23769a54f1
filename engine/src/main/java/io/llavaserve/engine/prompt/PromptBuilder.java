package io.llavaserve.engine.prompt;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Builds prompt ids from chat messages or raw text, with one image token id per image. The vision
 * tower's features later replace each image token, so the counts must agree.
 */
public final class PromptBuilder {

  /** The text of the image token, as templates and raw prompts write it. */
  public static final String IMAGE_TEXT = "<image>";

  /**
   * Prompt ids ready for prefill.
   *
   * @param ids the token ids, BOS first when the tokenizer adds one
   * @param imageCount how many image-token ids {@code ids} holds
   */
  public record Prompt(int[] ids, int imageCount) {
    public Prompt {
      Objects.requireNonNull(ids, "ids");
      ids = ids.clone();
      if (imageCount < 0) {
        throw new IllegalArgumentException("imageCount must be >= 0, got " + imageCount);
      }
    }

    @Override
    public int[] ids() {
      return ids.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Prompt p && p.imageCount == imageCount && Arrays.equals(p.ids, ids);
    }

    @Override
    public int hashCode() {
      return 31 * Arrays.hashCode(ids) + imageCount;
    }

    @Override
    public String toString() {
      return "Prompt[ids=" + Arrays.toString(ids) + ", imageCount=" + imageCount + "]";
    }
  }

  private PromptBuilder() {}

  /**
   * Renders the messages with the generation prompt and tokenizes them; the image token is the
   * tokenizer's {@code <image>}.
   *
   * @throws IllegalArgumentException when the tokenizer has no {@code <image>} token while the
   *     messages hold images, or when the image tokens do not match the image parts
   */
  public static Prompt build(
      Tokenizer tokenizer, ChatTemplate template, List<ChatMessage> messages) {
    int imageTokenId = tokenizer.tokenId(IMAGE_TEXT).orElse(-1);
    return build(tokenizer, template, messages, imageTokenId);
  }

  /** As {@link #build(Tokenizer, ChatTemplate, List)}, with an explicit image token id. */
  public static Prompt build(
      Tokenizer tokenizer, ChatTemplate template, List<ChatMessage> messages, int imageTokenId) {
    return build(tokenizer, template, messages, imageTokenId, true);
  }

  /**
   * As {@link #build(Tokenizer, ChatTemplate, List, int)}; without {@code addGenerationPrompt} the
   * template does not open the assistant's turn.
   */
  public static Prompt build(
      Tokenizer tokenizer,
      ChatTemplate template,
      List<ChatMessage> messages,
      int imageTokenId,
      boolean addGenerationPrompt) {
    return build(tokenizer, template, messages, List.of(), imageTokenId, addGenerationPrompt);
  }

  /**
   * As {@link #build(Tokenizer, ChatTemplate, List, int, boolean)}, with the tools the model may
   * call (see {@link ChatTemplate#render(List, List, boolean)}).
   */
  public static Prompt build(
      Tokenizer tokenizer,
      ChatTemplate template,
      List<ChatMessage> messages,
      List<ToolDefinition> tools,
      int imageTokenId,
      boolean addGenerationPrompt) {
    int images = messages.stream().mapToInt(ChatMessage::imageCount).sum();
    if (images > 0 && imageTokenId < 0) {
      throw new IllegalArgumentException(
          "messages hold " + images + " image(s) but the tokenizer has no <image> token");
    }
    int[] ids = encodeWithBos(tokenizer, template.render(messages, tools, addGenerationPrompt));
    int found = count(ids, imageTokenId);
    if (found != images) {
      throw new IllegalArgumentException(
          "prompt has "
              + found
              + " image token(s) but the messages have "
              + images
              + " image part(s); is '<image>' written in the text?");
    }
    return new Prompt(ids, images);
  }

  /**
   * Tokenizes a raw prompt in which each {@code <image>} (or whatever text the tokenizer maps to
   * {@code imageTokenId}) marks one image.
   */
  public static Prompt raw(Tokenizer tokenizer, String text, int imageTokenId) {
    int[] ids = encodeWithBos(tokenizer, text);
    return new Prompt(ids, count(ids, imageTokenId));
  }

  /**
   * BOS when the tokenizer adds one and the text does not already start with it; never EOS, since
   * the model is about to continue the text.
   */
  private static int[] encodeWithBos(Tokenizer tokenizer, String text) {
    int[] body = tokenizer.encode(text, false);
    int bos = tokenizer.bosId();
    int[] specials = tokenizer.encode("", true);
    boolean addsBos = bos >= 0 && specials.length > 0 && specials[0] == bos;
    if (!addsBos || (body.length > 0 && body[0] == bos)) {
      return body;
    }
    int[] ids = new int[body.length + 1];
    ids[0] = bos;
    System.arraycopy(body, 0, ids, 1, body.length);
    return ids;
  }

  private static int count(int[] ids, int id) {
    int n = 0;
    for (int x : ids) {
      n += x == id ? 1 : 0;
    }
    return n;
  }
}
