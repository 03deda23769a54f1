package io.llavaserve.engine.training.world;

import java.util.List;

/**
 * One training or evaluation example: an image and the turns of text about it.
 *
 * @param scene the image
 * @param kind what sort of text the turns hold
 * @param type the question type of the first turn for {@link SampleKind#VQA}, null for any other
 *     kind
 * @param turns at least one turn, in conversation order
 */
public record Sample(Scene scene, SampleKind kind, QuestionType type, List<Turn> turns) {

  public Sample {
    if (scene == null || kind == null) {
      throw new IllegalArgumentException("scene and kind must not be null");
    }
    if ((kind == SampleKind.VQA) != (type != null)) {
      throw new IllegalArgumentException(
          "type must be set for VQA samples and only for them, got " + kind + " with " + type);
    }
    turns = List.copyOf(turns);
    if (turns.isEmpty()) {
      throw new IllegalArgumentException("a sample needs at least one turn");
    }
  }
}
