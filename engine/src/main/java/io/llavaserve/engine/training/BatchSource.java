package io.llavaserve.engine.training;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.graph.TilePacking;
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.image.RgbImage;
import io.llavaserve.engine.training.world.Facts;
import io.llavaserve.engine.training.world.HardNegatives;
import io.llavaserve.engine.training.world.Instructions;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.SceneRenderer;
import io.llavaserve.engine.training.world.ShapeColor;
import io.llavaserve.engine.training.world.ShapeKind;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.Turn;
import io.llavaserve.engine.training.world.WorldDatasets;
import io.llavaserve.engine.training.world.WorldMix;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The data of every step of every stage, generated on demand and deterministic in (seed, stage,
 * step): a resumed run sees exactly the batches an uninterrupted one would have.
 *
 * <p>Images go through the serving engine's own preprocessing (pad to square, Pillow-exact bicubic
 * resize, CLIP normalisation), so the tower trains on exactly what it will be served.
 */
final class BatchSource {

  /**
   * One contrastive batch: pixels of {@code images} images and padded caption rows. With the
   * caption objective: first each image's own caption, then {@code hardNegatives} blocks of one
   * false caption per image (block {@code k}, row {@code i} belongs to image {@code i}), and no
   * targets. With the fact objective: the facts every image drew, and {@code [images, captions]}
   * targets (1 where the fact holds of the image) and weights (0 where it is undecided).
   */
  record ClipBatch(
      float[] pixels,
      int images,
      int side,
      int captions,
      int[] captionRows,
      float[] captionMask,
      float[] targets,
      float[] weights) {}

  /**
   * One batch of the tower's supervised stage: pixels of {@code images} images and their labels as
   * {@link PatchLoss} reads them.
   */
  record PatchBatch(
      float[] pixels, int images, int side, float[] patchLabels, float[] imageLabels) {}

  private final long seed;
  private final SizeRange sizes;
  private final SampleEncoder encoder;
  private final WorldVocabulary vocabulary;
  private final ImagePreprocessor preprocessor;
  private final AnyResolution anyres; // null for llava
  private final ImagePreprocessor tiler; // LLaVA-NeXT's processor; null for llava
  private final int imagePositions;
  private final int side;
  private final int captionTokens;
  private final int hardNegatives;
  private final ClipTextSpec.Objective objective;
  private final int grid;
  private final WorldMix mix;
  private final boolean grounding;
  private final int[] colorRows;
  private final int[] kindRows;

  BatchSource(
      long seed,
      SizeRange sizes,
      SampleEncoder encoder,
      WorldVocabulary vocabulary,
      TrainingSpec spec) {
    this(seed, sizes, encoder, vocabulary, spec, WorldMix.PLAIN);
  }

  /**
   * Batches of the world departed from by {@code mix} (see {@link WorldDatasets#WorldDatasets(long,
   * SizeRange, WorldMix)}).
   */
  BatchSource(
      long seed,
      SizeRange sizes,
      SampleEncoder encoder,
      WorldVocabulary vocabulary,
      TrainingSpec spec,
      WorldMix mix) {
    this(seed, sizes, encoder, vocabulary, spec, mix, false);
  }

  /**
   * @param grounding whether image batches carry {@link TrainingBatch.Grounding} targets: for every
   *     patch a shape covers, the world rows of its colour and kind words
   */
  BatchSource(
      long seed,
      SizeRange sizes,
      SampleEncoder encoder,
      WorldVocabulary vocabulary,
      TrainingSpec spec,
      WorldMix mix,
      boolean grounding) {
    this.mix = mix;
    this.grounding = grounding;
    this.colorRows = new int[ShapeColor.values().length];
    for (ShapeColor c : ShapeColor.values()) {
      colorRows[c.ordinal()] = wordRow(encoder, vocabulary, c.word());
    }
    this.kindRows = new int[ShapeKind.values().length];
    for (ShapeKind k : ShapeKind.values()) {
      kindRows[k.ordinal()] = wordRow(encoder, vocabulary, k.word());
    }
    this.seed = seed;
    this.sizes = sizes;
    this.encoder = encoder;
    this.vocabulary = vocabulary;
    this.side = spec.config().vision().imageSize();
    this.preprocessor = new ImagePreprocessor(PreprocessConfig.clipDefaults(side));
    this.anyres = spec.config().isAnyResolution() ? spec.config().anyResolution() : null;
    this.tiler =
        anyres == null
            ? null
            : new ImagePreprocessor(PreprocessConfig.llavaNextDefaults(side, anyres.pinpoints()));
    if (grounding && anyres != null) {
      throw new IllegalArgumentException(
          "the grounding loss reads one tile per image; not with image_grid_pinpoints");
    }
    this.imagePositions = spec.config().imageSeqLength();
    this.captionTokens = spec.clipText().maxTokens();
    this.hardNegatives = spec.clipText().hardNegatives();
    this.objective = spec.clipText().objective();
    this.grid = spec.config().vision().patchesPerSide();
    if (grounding && imagePositions != grid * grid) {
      throw new IllegalArgumentException(
          "grounding needs one image position per patch: "
              + imagePositions
              + " positions, "
              + grid * grid
              + " patches");
    }
  }

  /**
   * The world row of the first token of {@code word} as it reads inside a sentence ("a red
   * circle"): the token the language model sees and predicts for it.
   */
  static int wordRow(SampleEncoder encoder, WorldVocabulary vocabulary, String word) {
    int id = encoder.caption(word)[0];
    if (!vocabulary.contains(id)) {
      throw new IllegalStateException("\"" + word + "\" is not in the world vocabulary");
    }
    return vocabulary.row(id);
  }

  /** Whether the tower's stage is the supervised one ({@link #patchBatch}). */
  boolean patches() {
    return objective.supervised();
  }

  /** The world a step of {@code stage} draws its samples from, in order. */
  WorldDatasets data(Stage stage, long step) {
    long mixed = seed * 0x9E3779B97F4A7C15L + stage.ordinal() * 0xBF58476D1CE4E5B9L + step;
    return new WorldDatasets(mixed, sizes, mix);
  }

  /**
   * The sample's image as the tower sees it. The scene is drawn at no more than twice the tower's
   * side (its geometry is exact at any scale), then padded and resized as served: the same picture
   * the full-size drawing would give after the bicubic downscale, at a fraction of the cost.
   */
  float[] pixels(Sample sample) {
    return preprocessor.preprocess(SceneRenderer.render(sample.scene(), 2 * side)).data();
  }

  /**
   * The sample's image as LLaVA-NeXT's processor tiles it ({@code [tiles, 3, S, S]}), the scene's
   * own size recorded, which decides its positions. The scene is drawn at twice the size its grid
   * keeps (and no less than twice the tower's side, for the base tile), or at full size where a
   * smaller drawing would fit another pinpoint or another rounding of the resize: the tiles cut the
   * same picture the full-size drawing gives.
   */
  PixelValues tiles(Sample sample) {
    Scene scene = sample.scene();
    int h = scene.height();
    int w = scene.width();
    AnyResolution.Resolution best = anyres.bestResolution(h, w);
    AnyResolution.Resolution fit = AnyResolution.resizedInside(h, w, best);
    int maxSide = 2 * Math.max(side, Math.max(fit.height(), fit.width()));
    RgbImage drawn = null;
    if (maxSide < Math.max(h, w)) {
      RgbImage small = SceneRenderer.render(scene, maxSide);
      if (anyres.bestResolution(small.height(), small.width()).equals(best)
          && AnyResolution.resizedInside(small.height(), small.width(), best).equals(fit)) {
        drawn = small;
      }
    }
    PixelValues px = tiler.preprocess(drawn != null ? drawn : SceneRenderer.render(scene));
    return PixelValues.tiled(px.tiles(), 3, side, side, h, w, px.data());
  }

  /** A batch of {@code size} sequences for a LLaVA or text stage. */
  TrainingBatch batch(Stage stage, long step, int size) {
    WorldDatasets data = data(stage, step);
    List<EncodedSample> encoded = new ArrayList<>(size);
    List<float[]> images = new ArrayList<>();
    List<PixelValues> tiled = new ArrayList<>();
    List<Scene> scenes = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      Sample s =
          switch (stage) {
            case ALIGN -> data.caption();
            case TEXT, INSTRUCT -> data.instruction();
            case CLIP -> throw new IllegalArgumentException("use clipBatch for " + stage);
          };
      if (stage == Stage.TEXT) {
        String scene =
            Instructions.detail(
                    s.scene(), mix.kindFirstShare(), new SplittableRandom(step * 31 + i))
                .answer();
        encoded.add(encoder.transcript(scene, s.turns()));
      } else if (anyres != null) {
        PixelValues px = tiles(s);
        encoded.add(
            encoder.conversation(s.turns(), anyres.positions(px.imageHeight(), px.imageWidth())));
        images.add(px.data());
        tiled.add(px);
      } else {
        encoded.add(encoder.conversation(s.turns(), true));
        images.add(pixels(s));
        scenes.add(s.scene());
      }
    }
    if (anyres != null && !tiled.isEmpty()) {
      TilePacking plan = TilePacking.plan(tiled, anyres);
      int tiles = tiled.stream().mapToInt(PixelValues::tiles).sum();
      return TrainingBatch.of(encoded, images, tiles, vocabulary, plan.index());
    }
    TrainingBatch b = TrainingBatch.of(encoded, images, vocabulary, imagePositions);
    return grounding && !scenes.isEmpty() ? b.withGrounding(grounding(scenes)) : b;
  }

  /** Every patch a shape covers in each scene, with its shape's colour and kind word rows. */
  TrainingBatch.Grounding grounding(List<Scene> scenes) {
    List<int[]> rows = new ArrayList<>();
    for (int i = 0; i < scenes.size(); i++) {
      PatchTargets t = PatchTargets.of(scenes.get(i), side, grid);
      for (int c = 0; c < t.kind().length; c++) {
        if (t.kind()[c] >= 0) {
          rows.add(
              new int[] {i * imagePositions + c, colorRows[t.color()[c]], kindRows[t.kind()[c]]});
        }
      }
    }
    return new TrainingBatch.Grounding(
        rows.stream().mapToInt(r -> r[0]).toArray(),
        rows.stream().mapToInt(r -> r[1]).toArray(),
        rows.stream().mapToInt(r -> r[2]).toArray());
  }

  /**
   * A contrastive batch of {@code size} images, their captions and {@link
   * ClipTextSpec#hardNegatives()} false captions per image.
   */
  ClipBatch clipBatch(long step, int size) {
    if (objective == ClipTextSpec.Objective.FACTS) {
      return factBatch(step, size);
    }
    WorldDatasets data = data(Stage.CLIP, step);
    int captions = size * (1 + hardNegatives);
    float[] pixels = new float[size * 3 * side * side];
    int[] rows = new int[captions * captionTokens];
    float[] mask = new float[captions * captionTokens];
    SplittableRandom negatives = new SplittableRandom(step * 0x9E3779B97F4A7C15L + seed);
    for (int i = 0; i < size; i++) {
      Sample s = data.caption();
      float[] px = pixels(s);
      System.arraycopy(px, 0, pixels, i * px.length, px.length);
      putCaption(rows, mask, i, s.turns().get(0).answer());
      List<String> falseOnes = HardNegatives.captions(s.scene(), hardNegatives, negatives);
      for (int k = 0; k < hardNegatives; k++) {
        putCaption(rows, mask, (k + 1) * size + i, falseOnes.get(k));
      }
    }
    return new ClipBatch(pixels, size, side, captions, rows, mask, null, null);
  }

  /** {@code size} images and what each holds, per patch and in all ({@link PatchTargets}). */
  PatchBatch patchBatch(long step, int size) {
    WorldDatasets data = data(Stage.CLIP, step);
    float[] pixels = new float[size * 3 * side * side];
    List<PatchTargets> targets = new ArrayList<>(size);
    for (int i = 0; i < size; i++) {
      Sample s = data.caption();
      float[] px = pixels(s);
      System.arraycopy(px, 0, pixels, i * px.length, px.length);
      targets.add(PatchTargets.of(s.scene(), side, grid));
    }
    float[][] labels = PatchLoss.labels(targets, objective == ClipTextSpec.Objective.COUNTS);
    return new PatchBatch(pixels, size, side, labels[0], labels[1]);
  }

  /** {@code size} images, the facts they drew, and every image judged against every fact. */
  private ClipBatch factBatch(long step, int size) {
    WorldDatasets data = data(Stage.CLIP, step);
    SplittableRandom draw = new SplittableRandom(step * 0x9E3779B97F4A7C15L + seed);
    float[] pixels = new float[size * 3 * side * side];
    List<Scene> scenes = new ArrayList<>(size);
    java.util.Map<String, Facts.Fact> facts = new java.util.LinkedHashMap<>();
    for (int i = 0; i < size; i++) {
      Sample s = data.caption();
      float[] px = pixels(s);
      System.arraycopy(px, 0, pixels, i * px.length, px.length);
      scenes.add(s.scene());
      Facts.about(s.scene(), draw).forEach(f -> facts.putIfAbsent(f.text(), f));
    }
    int m = facts.size();
    int[] rows = new int[m * captionTokens];
    float[] mask = new float[m * captionTokens];
    float[] targets = new float[size * m];
    float[] weights = new float[size * m];
    int j = 0;
    for (Facts.Fact f : facts.values()) {
      putCaption(rows, mask, j, f.text());
      for (int i = 0; i < size; i++) {
        Facts.Truth t = f.of(scenes.get(i));
        targets[i * m + j] = t == Facts.Truth.TRUE ? 1f : 0f;
        weights[i * m + j] = t == Facts.Truth.UNDECIDED ? 0f : 1f;
      }
      j++;
    }
    return new ClipBatch(pixels, size, side, m, rows, mask, targets, weights);
  }

  private void putCaption(int[] rows, float[] mask, int row, String caption) {
    int[] ids = encoder.caption(caption);
    int n = Math.min(ids.length, captionTokens);
    for (int j = 0; j < captionTokens; j++) {
      rows[row * captionTokens + j] = j < n ? vocabulary.row(ids[j]) : vocabulary.otherRow();
      mask[row * captionTokens + j] = j < n ? 1f : 0f;
    }
  }

  /**
   * The world vocabulary: every id in {@code samples} samples of each kind of text the stages train
   * on, through the template (with and without images), plus BOS and EOS; with {@code facts}, also
   * every {@link Facts#every() fact} the CLIP stage can draw; where {@code mix} asks for
   * inventories or tallies, also their words ({@link Instructions#inventory}, {@link
   * Instructions#tally}).
   */
  static WorldVocabulary vocabulary(
      SampleEncoder encoder,
      long seed,
      SizeRange sizes,
      int samples,
      int vocabSize,
      boolean facts,
      WorldMix mix) {
    java.util.Set<Integer> ids = new java.util.TreeSet<>();
    WorldDatasets data = new WorldDatasets(seed ^ 0x5DEECE66DL, sizes);
    for (int i = 0; i < samples; i++) {
      for (Sample s : List.of(data.caption(), data.instruction())) {
        for (int id : encoder.conversation(s.turns(), false).ids()) {
          ids.add(id);
        }
        for (int id : encoder.caption(s.turns().get(0).answer())) {
          ids.add(id);
        }
      }
    }
    if (facts) {
      for (Facts.Fact f : Facts.every()) {
        for (int id : encoder.caption(f.text())) {
          ids.add(id);
        }
      }
    }
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < samples; i++) {
      Sample s = data.caption();
      List<Turn> extra = new ArrayList<>();
      if (mix.inventoryShare() > 0) {
        extra.add(Instructions.inventory(s.scene(), r));
      }
      if (mix.tallyShare() > 0) {
        extra.add(Instructions.tally(s.scene(), r));
      }
      for (Turn turn : extra) {
        for (int id : encoder.conversation(List.of(turn), false).ids()) {
          ids.add(id);
        }
      }
    }
    ids.add(encoder.tokenizer().bosId());
    ids.add(encoder.tokenizer().eosId());
    return new WorldVocabulary(ids, vocabSize);
  }
}
