package io.llavaserve.engine.training.world;

/**
 * The short-answer question types, each answered with one word or number. Evaluation reports
 * accuracy per type, so each type tests one skill: counting, colour, shape, left and right,
 * presence, and counting by attribute.
 */
public enum QuestionType {
  /** "How many shapes are there?": 1 to 4. */
  COUNT,
  /** "What color is the triangle?", asked of a kind present exactly once. */
  COLOR,
  /** "What shape is the red object?", asked of a colour present exactly once. */
  SHAPE,
  /** "Is the red circle to the left or to the right of the blue square?": left or right. */
  POSITION,
  /** "Is there a green star in the image?": yes or no, half and half. */
  EXISTENCE,
  /** "How many circles are there?" or "How many blue shapes are there?": 0 to 4. */
  ATTRIBUTE_COUNT
}
