package io.llavaserve.engine.checkpoint;

import io.llavaserve.engine.config.ProjectorKind;
import java.util.List;
import java.util.Optional;

/**
 * The three ways LLaVA checkpoints name their tensors, and the mapping of each onto the canonical
 * llava-hf names this server uses everywhere else. LLaVA-NeXT's {@code image_newline} is {@code
 * image_newline} in llava-hf's layout and {@code model.image_newline} in the newer one (and in the
 * original repository's).
 */
public enum WeightNaming {
  /** llava-hf as converted for transformers 4.36 to 4.51: {@code language_model.model.*}. */
  HF,
  /** transformers 4.52 and later: {@code model.language_model.*}, {@code lm_head.weight}. */
  NEW_TRANSFORMERS,
  /** The original LLaVA repository: {@code model.layers.*}, {@code model.mm_projector.0.*}. */
  ORIGINAL;

  /** Prefix rewrites, most specific first; the first that matches wins. */
  private record Rule(String stored, String canonical) {}

  private static final List<Rule> RULES =
      List.of(
          new Rule("model.vision_tower.vision_tower.vision_model.", "vision_tower.vision_model."),
          new Rule("model.vision_tower.", "vision_tower."),
          new Rule("model.multi_modal_projector.", "multi_modal_projector."),
          new Rule("model.image_newline", "image_newline"),
          new Rule("model.language_model.", "language_model.model."),
          new Rule("model.mm_projector.0.", "multi_modal_projector.linear_1."),
          new Rule("model.mm_projector.2.", "multi_modal_projector.linear_2."),
          new Rule("model.mm_projector.", "multi_modal_projector.linear_1."),
          new Rule("model.embed_tokens.", "language_model.model.embed_tokens."),
          new Rule("model.layers.", "language_model.model.layers."),
          new Rule("model.norm.", "language_model.model.norm."),
          new Rule("lm_head.", "language_model.lm_head."),
          new Rule("vision_tower.", "vision_tower."),
          new Rule("multi_modal_projector.", "multi_modal_projector."),
          new Rule("language_model.", "language_model."),
          new Rule("image_newline", "image_newline"));

  /**
   * The canonical name of a stored tensor name in any of the three styles, or empty for tensors the
   * model does not use (buffers such as {@code rotary_emb.inv_freq} are still mapped; the
   * checkpoint simply never asks for them).
   */
  public static Optional<String> canonical(String stored) {
    for (Rule r : RULES) {
      if (stored.startsWith(r.stored())) {
        String rest = stored.substring(r.stored().length());
        if (r.stored().equals("model.mm_projector.") && !rest.matches("(weight|bias)")) {
          return Optional.empty(); // an MLP projector index other than 0 or 2
        }
        if (r.canonical().equals("image_newline") && !rest.isEmpty()) {
          return Optional.empty();
        }
        return Optional.of(r.canonical() + rest);
      }
    }
    return Optional.empty();
  }

  /** The name this style stores the canonical tensor {@code canonical} under. */
  public String stored(String canonical, ProjectorKind projector) {
    return switch (this) {
      case HF -> canonical;
      case NEW_TRANSFORMERS -> {
        if (canonical.equals("language_model.lm_head.weight")) {
          yield "lm_head.weight";
        }
        if (canonical.startsWith("language_model.model.")) {
          yield "model.language_model." + canonical.substring("language_model.model.".length());
        }
        yield "model." + canonical;
      }
      case ORIGINAL -> {
        if (canonical.equals(WeightShapes.IMAGE_NEWLINE)) {
          yield "model.image_newline";
        }
        if (canonical.equals("language_model.lm_head.weight")) {
          yield "lm_head.weight";
        }
        if (canonical.startsWith("language_model.model.")) {
          yield "model." + canonical.substring("language_model.model.".length());
        }
        if (canonical.startsWith("vision_tower.")) {
          yield "model.vision_tower." + canonical;
        }
        String linear1 = "multi_modal_projector.linear_1.";
        String linear2 = "multi_modal_projector.linear_2.";
        if (canonical.startsWith(linear1)) {
          String rest = canonical.substring(linear1.length());
          yield projector == ProjectorKind.LINEAR
              ? "model.mm_projector." + rest
              : "model.mm_projector.0." + rest;
        }
        if (canonical.startsWith(linear2)) {
          yield "model.mm_projector.2." + canonical.substring(linear2.length());
        }
        throw new IllegalArgumentException("no original LLaVA name for " + canonical);
      }
    };
  }
}
