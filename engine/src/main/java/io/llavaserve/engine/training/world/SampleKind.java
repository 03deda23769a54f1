package io.llavaserve.engine.training.world;

/**
 * The kinds of training sample, after LLaVA's data: brief captions for stage-1 alignment, and the
 * three kinds of instruction data (conversation, detailed description, complex reasoning) plus
 * short-answer VQA for stage 2, as LLaVA-1.5 mixes them; and the optional inventory, a terse list
 * of the shapes' kinds each followed by its colour, and the optional tally, every kind's or every
 * colour's count.
 */
public enum SampleKind {
  CAPTION,
  CONVERSATION,
  DETAIL,
  REASONING,
  VQA,
  INVENTORY,
  TALLY
}
