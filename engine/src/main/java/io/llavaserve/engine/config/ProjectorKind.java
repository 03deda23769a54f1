package io.llavaserve.engine.config;

/** The connector between the vision tower and the language model. */
public enum ProjectorKind {
  /** LLaVA-1.0: one linear layer ({@code multi_modal_projector.linear_1}). */
  LINEAR,
  /** LLaVA-1.5: linear, activation, linear ({@code linear_1}, {@code linear_2}). */
  MLP2X_GELU
}
