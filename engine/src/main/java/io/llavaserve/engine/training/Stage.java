package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightShapes;

/**
 * The stages of the recipe, in order, and what each trains.
 *
 * <p>Stage 0 exists because nothing pretrained can be downloaded: a CLIP tower trained
 * contrastively, and a language model pretrained on the world's text. Stages 1 and 2 are LLaVA's:
 * feature alignment (projector only) and visual instruction tuning (projector and language model),
 * the tower frozen throughout.
 */
public enum Stage {
  CLIP("stage 0a: vision tower (CLIP ViT), supervised or contrastive"),
  TEXT("stage 0b: language model pretraining"),
  ALIGN("stage 1: feature alignment (projector only)"),
  INSTRUCT("stage 2: visual instruction tuning (projector + language model)");

  private final String title;

  Stage(String title) {
    this.title = title;
  }

  public String title() {
    return title;
  }

  /** Whether the stage reads this parameter. */
  boolean reads(String name) {
    boolean clip = name.startsWith("clip.");
    boolean vision = name.startsWith(WeightShapes.VISION);
    return switch (this) {
      case CLIP -> clip || vision;
      case TEXT -> isLanguageModel(name);
      case ALIGN, INSTRUCT -> !clip;
    };
  }

  /** Whether this parameter learns in the stage. */
  boolean trains(String name) {
    return switch (this) {
      case CLIP -> reads(name);
      case TEXT -> isLanguageModel(name);
      case ALIGN -> isConnector(name);
      case INSTRUCT -> isConnector(name) || isLanguageModel(name);
    };
  }

  /**
   * The projector and, for LLaVA-NeXT, the {@code image_newline} row that ends each row of an
   * image's tiled features: what joins the tower to the language model, learning from stage 1 on.
   */
  static boolean isConnector(String name) {
    return name.startsWith(WeightShapes.PROJECTOR) || name.equals(WeightShapes.IMAGE_NEWLINE);
  }

  /** Whether the stage's batches hold images. */
  boolean withImages() {
    return this != TEXT;
  }

  static boolean isLanguageModel(String name) {
    return name.startsWith(WeightShapes.TEXT)
        || name.startsWith("language_model.")
        || name.equals(Towers.WORLD_EMBED);
  }
}
