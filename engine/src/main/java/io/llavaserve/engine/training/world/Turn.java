package io.llavaserve.engine.training.world;

/**
 * One exchange of a training conversation: the user's text and the answer the model should learn.
 * Both are plain ASCII, as the LLaMA SentencePiece tokenizer sees them.
 *
 * @param question the user's turn, not blank
 * @param answer the assistant's turn, not blank
 */
public record Turn(String question, String answer) {

  public Turn {
    if (question == null || question.isBlank()) {
      throw new IllegalArgumentException("question must not be blank");
    }
    if (answer == null || answer.isBlank()) {
      throw new IllegalArgumentException("answer must not be blank");
    }
  }
}
