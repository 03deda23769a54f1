package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.checkpoint.WeightNaming;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What is trained: the LLaVA model's dimensions (as a {@link TinySpec}, the shape of the llava-hf
 * checkpoint it becomes) and the CLIP text encoder that only stage 0 uses.
 *
 * @param model the LLaVA checkpoint's dimensions; embeddings are tied
 * @param clipText the contrastive text encoder's dimensions
 */
public record TrainingSpec(TinySpec model, ClipTextSpec clipText) {

  public TrainingSpec {
    if (!model.tiedEmbeddings()) {
      throw new IllegalArgumentException("training writes tied word embeddings");
    }
    if (model.textKvHeads() != model.textHeads()) {
      throw new IllegalArgumentException("training needs as many key/value heads as query heads");
    }
  }

  /**
   * The shipped default: a 128 px tower with 16 px patches (64 image positions), 4 layers of 192
   * wide, pretrained on the scenes' patch labels ({@link ClipTextSpec.Objective#PATCHES}); a
   * decoder of 4 layers, 256 wide with 4 heads; tied embeddings over LLaMA's vocabulary.
   */
  public static TrainingSpec standard() {
    return new TrainingSpec(
        spec(192, 768, 4, 3, 128, 16, 256, 704, 4, 4, DType.F16),
        new ClipTextSpec(128, 2, 2, 40, 128, 0, ClipTextSpec.Objective.PATCHES));
  }

  /** A very small model for tests and the CI smoke run: 32 px images, 4 image positions. */
  public static TrainingSpec smoke() {
    return new TrainingSpec(
        spec(32, 64, 2, 2, 32, 16, 32, 64, 2, 2, DType.F32),
        new ClipTextSpec(32, 1, 2, 40, 16, 2, ClipTextSpec.Objective.CAPTIONS));
  }

  /**
   * The recipe's stages for {@link #standard()}: 45 to 65 minutes on two cores alone (45.2 on a
   * 2-core AMD Zen 4, the tower's 5000 supervised steps 17.1 of them). The shipped model then
   * continued its instruction stage to 3500 steps ({@code train --steps instruct=3500} on the same
   * run folder, about 20 minutes more): the README's "Training" gives the two commands.
   */
  public static java.util.List<StagePlan> standardPlan() {
    return java.util.List.of(
        new StagePlan(Stage.CLIP, 5000, 32, 1e-3, 300),
        new StagePlan(Stage.TEXT, 500, 16, 1e-3, 50),
        new StagePlan(Stage.ALIGN, 400, 16, 2e-3, 40),
        new StagePlan(Stage.INSTRUCT, 2000, 16, 1e-3, 100));
  }

  /** A few dozen steps per stage of {@link #smoke()}: a CI-sized run whose loss falls. */
  public static java.util.List<StagePlan> smokePlan() {
    return java.util.List.of(
        new StagePlan(Stage.CLIP, 30, 16, 2e-3, 3),
        new StagePlan(Stage.TEXT, 30, 8, 3e-3, 3),
        new StagePlan(Stage.ALIGN, 30, 8, 3e-3, 3),
        new StagePlan(Stage.INSTRUCT, 40, 8, 3e-3, 3));
  }

  /**
   * This spec with a decoder {@code hidden} wide and {@code layers} deep ({@link
   * TinySpec#withDecoder}).
   */
  public TrainingSpec withDecoder(int hidden, int layers) {
    return new TrainingSpec(model.withDecoder(hidden, layers), clipText);
  }

  /**
   * This spec as LLaVA-NeXT: images tiled at {@code pinpoints} (multiples of the tower's side), the
   * base tile and the un-padded grid with an {@code image_newline} row after each of its rows, as
   * the server tiles a llava_next checkpoint's images ({@link TinySpec#withImageGridPinpoints}).
   */
  public TrainingSpec withImageGridPinpoints(
      java.util.List<io.llavaserve.engine.config.AnyResolution.Resolution> pinpoints) {
    TrainingSpec next = new TrainingSpec(model.withImageGridPinpoints(pinpoints), clipText);
    next.config(); // refuses pinpoints that are not whole tiles, naming them
    return next;
  }

  /** This spec with {@code n} hard-negative captions per image in the CLIP stage. */
  public TrainingSpec withHardNegatives(int n) {
    ClipTextSpec t = clipText;
    return new TrainingSpec(
        model,
        new ClipTextSpec(
            t.hidden(), t.layers(), t.heads(), t.maxTokens(), t.projection(), n, t.objective()));
  }

  /**
   * This spec with the CLIP stage trained on {@link ClipTextSpec.Objective#FACTS}: no hard-negative
   * captions, facts padded to 16 tokens.
   */
  public TrainingSpec withFacts() {
    return withObjective(ClipTextSpec.Objective.FACTS, 16);
  }

  /**
   * This spec with the tower's stage trained on {@link ClipTextSpec.Objective#PATCHES}: supervised
   * by the scenes' geometry, no text encoder.
   */
  public TrainingSpec withPatches() {
    return withObjective(ClipTextSpec.Objective.PATCHES, clipText.maxTokens());
  }

  /**
   * This spec with the tower's stage trained on {@link ClipTextSpec.Objective#COUNTS}: {@link
   * #withPatches()}, each covered patch also told how many shapes share its colour and its kind.
   */
  public TrainingSpec withCounts() {
    return withObjective(ClipTextSpec.Objective.COUNTS, clipText.maxTokens());
  }

  /**
   * This spec with the tower's stage trained on {@link ClipTextSpec.Objective#CAPTIONS}: CLIP's
   * contrastive loss against a 40-token caption encoder.
   */
  public TrainingSpec withCaptions() {
    return withObjective(ClipTextSpec.Objective.CAPTIONS, 40);
  }

  private TrainingSpec withObjective(ClipTextSpec.Objective objective, int maxTokens) {
    ClipTextSpec t = clipText;
    return new TrainingSpec(
        model,
        new ClipTextSpec(
            t.hidden(), t.layers(), t.heads(), maxTokens, t.projection(), 0, objective));
  }

  public LlavaConfig config() {
    return model.toConfig();
  }

  private static TinySpec spec(
      int vHidden,
      int vInter,
      int vLayers,
      int vHeads,
      int image,
      int patch,
      int tHidden,
      int tInter,
      int tLayers,
      int tHeads,
      DType dtype) {
    return new TinySpec(
        vHidden,
        vInter,
        vLayers,
        vHeads,
        image,
        patch,
        tHidden,
        tInter,
        tLayers,
        tHeads,
        tHeads,
        32064,
        10000.0,
        1e-5,
        true,
        ProjectorKind.MLP2X_GELU,
        dtype,
        WeightNaming.HF,
        1,
        0L,
        io.llavaserve.engine.config.TextFamily.LLAMA,
        io.llavaserve.engine.config.VisionFamily.CLIP);
  }

  /**
   * Every tensor training keeps, with its shape: the checkpoint's (the token embedding as world
   * rows) and the CLIP text encoder's.
   */
  public Map<String, long[]> shapes(WorldVocabulary vocabulary) {
    Map<String, long[]> m = new LinkedHashMap<>();
    io.llavaserve.engine.checkpoint.WeightShapes.all(config())
        .forEach(
            (name, shape) -> {
              if (name.equals(io.llavaserve.engine.checkpoint.WeightShapes.EMBED_TOKENS)) {
                m.put(Towers.WORLD_EMBED, new long[] {vocabulary.rows(), shape[1]});
              } else {
                m.put(name, shape);
              }
            });
    m.putAll(
        clipText.objective().supervised()
            ? PatchLoss.shapes(
                config().vision(), clipText.objective() == ClipTextSpec.Objective.COUNTS)
            : ClipLoss.shapes(config().vision(), clipText, vocabulary.rows()));
    return m;
  }
}
