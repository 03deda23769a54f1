package io.llavaserve.engine.tokenizer;

import java.util.Objects;

/**
 * One entry of {@code tokenizer.json}'s {@code added_tokens}: text matched literally in the input
 * before BPE runs, such as {@code <s>} or {@code <image>}.
 *
 * @param id token id
 * @param content the literal text
 * @param special whether decoding with {@code skipSpecialTokens} drops it
 * @param lstrip whether the match swallows whitespace on its left
 * @param rstrip whether the match swallows whitespace on its right
 * @param singleWord whether it only matches when not inside a word
 * @param normalized whether it is matched on the normalized text rather than the raw input
 */
public record AddedToken(
    int id,
    String content,
    boolean special,
    boolean lstrip,
    boolean rstrip,
    boolean singleWord,
    boolean normalized) {

  public AddedToken {
    Objects.requireNonNull(content, "content");
    if (content.isEmpty()) {
      throw new IllegalArgumentException("added token " + id + " has empty content");
    }
    if (id < 0) {
      throw new IllegalArgumentException("added token '" + content + "' has negative id " + id);
    }
  }
}
