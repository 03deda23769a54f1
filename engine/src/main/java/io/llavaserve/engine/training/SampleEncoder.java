package io.llavaserve.engine.training;

import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.engine.training.world.Turn;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns conversations into training sequences through the same chat template and tokenizer the
 * server uses, so that a question asked over the API reaches the model as the ids it was trained
 * on.
 *
 * <p>Each assistant answer's tokens are found by rendering the conversation up to the question with
 * the generation prompt ({@code ... ASSISTANT:}) and up to the answer: the answer is what the
 * longer rendering adds, its end-of-sequence token included. A template whose renderings do not
 * extend one another is refused rather than trained on wrongly.
 */
public final class SampleEncoder {

  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final int imageTokenId;
  private final int imagePositions;

  /**
   * @param imagePositions feature positions one image expands to (image_seq_length)
   */
  public SampleEncoder(
      Tokenizer tokenizer, ChatTemplate template, int imageTokenId, int imagePositions) {
    this.tokenizer = tokenizer;
    this.template = template;
    this.imageTokenId = imageTokenId;
    this.imagePositions = imagePositions;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /**
   * A conversation about one image (in the first user turn), the loss on every answer; {@code
   * withImage} false encodes the same turns without the image.
   */
  public EncodedSample conversation(List<Turn> turns, boolean withImage) {
    return conversation(turns, withImage ? imagePositions : 0);
  }

  /**
   * A conversation about one image of {@code positions} feature positions (an any-resolution
   * image's count depends on its size), the loss on every answer; 0 encodes the turns without an
   * image.
   */
  public EncodedSample conversation(List<Turn> turns, int positions) {
    boolean withImage = positions > 0;
    List<ChatMessage> messages = new ArrayList<>();
    boolean[] targetIds = null;
    int[] ids = new int[0];
    for (int i = 0; i < turns.size(); i++) {
      Turn turn = turns.get(i);
      messages.add(
          i == 0 && withImage
              ? ChatMessage.of("user", ContentPart.image(), ContentPart.text(turn.question()))
              : ChatMessage.text("user", turn.question()));
      int[] prompt = tokens(template.render(messages, true));
      messages.add(ChatMessage.text("assistant", turn.answer()));
      int[] full = tokens(template.render(messages, false));
      requirePrefix(ids, prompt, "the conversation so far");
      requirePrefix(prompt, full, "the question with its generation prompt");
      boolean[] next = new boolean[full.length];
      if (targetIds != null) {
        System.arraycopy(targetIds, 0, next, 0, targetIds.length);
      }
      Arrays.fill(next, prompt.length, full.length, true);
      targetIds = next;
      ids = full;
    }
    return expand(ids, targetIds, positions);
  }

  /**
   * The conversation's transcript through the template, with {@code scene} (a description of the
   * image in words) where the image would be, the loss on every token after the first:
   * language-model pretraining on the world's text. Reading the answers off a description in the
   * context is the skill the model later needs to read them off an image in the same place.
   */
  public EncodedSample transcript(String scene, List<Turn> turns) {
    List<ChatMessage> messages = new ArrayList<>();
    for (int i = 0; i < turns.size(); i++) {
      Turn turn = turns.get(i);
      String question = i == 0 ? scene + "\n" + turn.question() : turn.question();
      messages.add(ChatMessage.text("user", question));
      messages.add(ChatMessage.text("assistant", turn.answer()));
    }
    int[] ids = tokens(template.render(messages, false));
    boolean[] target = new boolean[ids.length];
    Arrays.fill(target, 1, ids.length, true);
    return expand(ids, target, imagePositions);
  }

  /** Plain text with the loss on every token after the first (language-model pretraining). */
  public EncodedSample text(String text) {
    int[] ids = tokenizer.encode(text, true);
    int eos = tokenizer.eosId();
    int[] withEos = Arrays.copyOf(ids, ids.length + 1);
    withEos[ids.length] = eos;
    boolean[] target = new boolean[withEos.length];
    Arrays.fill(target, 1, withEos.length, true);
    return expand(withEos, target, imagePositions);
  }

  /** Caption ids for the contrastive text encoder (no special tokens). */
  public int[] caption(String caption) {
    return tokenizer.encode(caption, false);
  }

  private int[] tokens(String rendered) {
    return PromptBuilder.raw(tokenizer, rendered, imageTokenId).ids();
  }

  private EncodedSample expand(int[] ids, boolean[] target, int imagePositions) {
    int images = 0;
    for (int id : ids) {
      images += id == imageTokenId ? 1 : 0;
    }
    int length = ids.length + images * (imagePositions - 1);
    int[] outIds = new int[length];
    int[] slots = new int[length];
    boolean[] outTarget = new boolean[length];
    int o = 0;
    int image = 0;
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] == imageTokenId) {
        for (int j = 0; j < imagePositions; j++, o++) {
          outIds[o] = imageTokenId;
          slots[o] = image * imagePositions + j;
        }
        image++;
      } else {
        outIds[o] = ids[i];
        slots[o] = -1;
        outTarget[o] = target[i];
        o++;
      }
    }
    return new EncodedSample(outIds, slots, outTarget, images);
  }

  private static void requirePrefix(int[] prefix, int[] ids, String what) {
    if (prefix.length > ids.length
        || !Arrays.equals(prefix, 0, prefix.length, ids, 0, prefix.length)) {
      throw new IllegalStateException(
          "the chat template's tokens for "
              + what
              + " are not a prefix of the next turn's; cannot mark the answer tokens");
    }
  }
}
